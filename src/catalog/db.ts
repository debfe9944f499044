/**
 * The SQLite handle's type, in a module of its own: the catalog's statement modules need only
 * this, and taking it from open.ts (which assembles the whole catalog) tied every one of them
 * into one import cycle with it.
 */
import type Database from 'better-sqlite3';

export type DB = Database.Database;
