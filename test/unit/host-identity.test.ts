/**
 * Device identities across hosts (README "Several hosts"): a bare device number is qualified by
 * its host, a filesystem's own identity and a network export's are not; how listings name a
 * device once the catalog knows several hosts.
 */
import { describe, expect, it } from 'vitest';
import { legacyIdentity, qualifyIdentity } from '../../src/device-identity.js';
import { deviceLabel } from '../../src/device-label.js';
import { clearIdentityCache, hostDeviceIdentity, isNetworkFs } from '../../src/fs/identity.js';
import { parseMountinfo } from '../../src/fs/mountinfo.js';

/** Mounts as /proc/self/mountinfo lists them (no device behind them is probed). */
const [nfs, smb, sshfs, tmpfs] = parseMountinfo(
  Buffer.from(
    [
      '101 1 0:61 / /mnt/media rw,relatime shared:1 - nfs4 nas1:/export/media rw,vers=4.2',
      '102 1 0:62 / /mnt/share rw,relatime shared:2 - cifs //nas1/share rw,vers=3.1.1',
      '103 1 0:63 / /mnt/ssh rw,relatime shared:3 - fuse.sshfs me@nas1:/srv rw,user_id=0',
      '104 1 0:52 / /mnt/tmp rw,relatime shared:4 - tmpfs tmpfs rw,size=8192k',
    ].join('\n'),
  ),
);

describe('device identities across hosts', () => {
  it('qualifies a bare device number by its host, and nothing else', () => {
    expect(qualifyIdentity('dev:0:52', 'm1')).toBe('dev:0:52@m1');
    expect(qualifyIdentity('dev:0:52@m1', 'm2')).toBe('dev:0:52@m1');
    expect(qualifyIdentity('uuid:0b4e', 'm1')).toBe('uuid:0b4e');
    expect(qualifyIdentity('zfs:123', 'm1')).toBe('zfs:123');
    expect(qualifyIdentity('net:nas1:/export', 'm1')).toBe('net:nas1:/export');
    expect(legacyIdentity('dev:0:52@m1')).toBe('dev:0:52');
    expect(legacyIdentity('dev:0:52')).toBeUndefined();
    expect(legacyIdentity('uuid:0b4e')).toBeUndefined();
  });

  it('names a network mount by its source, for every client alike; a tmpfs by number and host', () => {
    clearIdentityCache();
    expect(isNetworkFs('nfs4') && isNetworkFs('cifs') && isNetworkFs('fuse.sshfs')).toBe(true);
    expect(isNetworkFs('tmpfs') || isNetworkFs('ext4')).toBe(false);
    expect(hostDeviceIdentity(nfs!, 'm1')).toEqual({
      identity: 'net:nas1:/export/media',
      stable: true,
      fsType: 'nfs4',
    });
    expect(hostDeviceIdentity(nfs!, 'm2').identity).toBe('net:nas1:/export/media');
    expect(hostDeviceIdentity(smb!, 'm1').identity).toBe('net://nas1/share');
    expect(hostDeviceIdentity(sshfs!, 'm1').identity).toBe('net:me@nas1:/srv');
    expect(hostDeviceIdentity(tmpfs!, 'm1')).toEqual({
      identity: 'dev:0:52@m1',
      stable: false,
      fsType: 'tmpfs',
    });
    expect(hostDeviceIdentity(tmpfs!, 'm2').identity).toBe('dev:0:52@m2');
  });

  it('labels a device host:mountpoint once several hosts are known, or when only another host mounts it', () => {
    const mount = (machineId: string, hostname: string, p: string) => ({
      machineId,
      hostname,
      mountPoint: Buffer.from(p),
    });
    const pool = { mountPoint: Buffer.from('/pool'), mounts: [mount('m1', 'nas1', '/pool')] };
    expect(deviceLabel(pool, { machineId: 'm1', hosts: 1 })).toBe('/pool');
    expect(deviceLabel(pool, { machineId: 'm2', hosts: 1 })).toBe('nas1:/pool');
    expect(deviceLabel(pool, { machineId: 'm1', hosts: 2 })).toBe('nas1:/pool');
    // Mounted on both: this host's mount is the one shown.
    const both = {
      mountPoint: Buffer.from('/mnt/pool'),
      mounts: [mount('m2', 'backup2', '/mnt/pool'), mount('m1', 'nas1', '/pool')],
    };
    expect(deviceLabel(both, { machineId: 'm1', hosts: 2 })).toBe('nas1:/pool');
    expect(deviceLabel(both, { machineId: 'm3', hosts: 3 })).toBe('backup2:/mnt/pool');
    // A catalog from before hosts: as it always was.
    expect(
      deviceLabel({ mountPoint: Buffer.from('/old'), mounts: [] }, { machineId: 'm1', hosts: 2 }),
    ).toBe('/old');
  });
});
