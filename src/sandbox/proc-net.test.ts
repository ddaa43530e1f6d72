import { expect, test } from 'vitest';
import { parseListeningSockets } from './proc-net.js';

test('parseListeningSockets reads LISTEN rows of /proc/net/tcp and tcp6, with addresses decoded', () => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0`;
  expect(parseListeningSockets(tcp)).toEqual([
    { address: '127.0.0.1', port: 5432 },
    { address: '0.0.0.0', port: 8080 },
  ]);
  const tcp6 = `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A`;
  expect(parseListeningSockets(tcp6)).toEqual([
    { address: '::1', port: 5432 },
    { address: '::', port: 80 },
  ]);
  expect(parseListeningSockets('')).toEqual([]);
});
