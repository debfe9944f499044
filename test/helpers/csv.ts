/**
 * A strict RFC 4180 reader for tests: records end with CRLF, a field is either bare (no comma,
 * quote, CR or LF) or quoted with inner quotes doubled. Anything else throws, so a test that
 * parses an output also checks it is well-formed.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  const n = text.length;
  if (n === 0) return records;
  while (i < n) {
    let field = '';
    if (text[i] === '"') {
      i++;
      while (true) {
        if (i >= n) throw new Error('unterminated quoted field');
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += c;
        i++;
      }
    } else {
      while (i < n && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`quote inside a bare field at ${i}`);
        field += text[i];
        i++;
      }
    }
    record.push(field);
    if (i >= n) throw new Error('the last record does not end with CRLF');
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') {
      records.push(record);
      record = [];
      i += 2;
      continue;
    }
    throw new Error(`bare CR or LF, or text after a closing quote, at ${i}`);
  }
  return records;
}

/** Records as objects keyed by the header row. */
export function csvObjects(text: string): { header: string[]; rows: Record<string, string>[] } {
  const [header, ...rest] = parseCsv(text);
  if (!header) throw new Error('no header row');
  for (const r of rest) {
    if (r.length !== header.length)
      throw new Error(`a record has ${r.length} fields, the header ${header.length}`);
  }
  return {
    header,
    rows: rest.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]!]))),
  };
}

/** The exact bytes of a path column pair: `key_b64` when present, else the UTF-8 text. */
export function pathBytes(row: Record<string, unknown>, key: string): Buffer {
  const b64 = row[`${key}_b64`];
  if (typeof b64 === 'string' && b64 !== '') return Buffer.from(b64, 'base64');
  return Buffer.from(String(row[key]), 'utf8');
}
