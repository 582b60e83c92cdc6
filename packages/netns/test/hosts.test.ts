import { describe, expect, it } from 'vitest';
import {
  containerResolvConf,
  parseResolvConf,
  renderHosts,
  renderResolvConf,
} from '../src/index.js';

describe('/etc/hosts and /etc/resolv.conf content', () => {
  it('renders hosts with the container, its aliases and its peers', () => {
    const text = renderHosts({
      hostname: 'web',
      address: '10.89.0.2',
      aliases: ['app', 'web'],
      peers: [
        { address: '10.89.0.3', names: ['db', 'postgres'] },
        { address: '10.89.0.4', names: [] },
      ],
      ipv6: false,
    });
    expect(text).toBe('127.0.0.1\tlocalhost\n10.89.0.2\tweb app\n10.89.0.3\tdb postgres\n');
    expect(renderHosts({ hostname: 'box' })).toContain('::1\tlocalhost ip6-localhost');
    expect(renderHosts({ hostname: 'box' })).toContain('127.0.1.1\tbox\n');
    expect(() => renderHosts({ hostname: 'bad name' })).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_INVALID_SPEC', field: 'hostname' }),
    );
    expect(() => renderHosts({ hostname: 'a', peers: [{ address: 'x', names: ['b'] }] })).toThrow(
      expect.objectContaining({ field: 'address' }),
    );
  });

  it('renders and parses resolv.conf; drops loopback resolvers for containers', () => {
    expect(
      renderResolvConf({
        nameservers: ['10.89.0.1', 'fd89::1'],
        search: ['corp.example'],
        options: ['ndots:1'],
      }),
    ).toBe('search corp.example\nnameserver 10.89.0.1\nnameserver fd89::1\noptions ndots:1\n');
    const host =
      '# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53 # isp\nsearch lan\noptions edns0 trust-ad\n';
    expect(parseResolvConf(host)).toEqual({
      nameservers: ['127.0.0.53', '192.0.2.53'],
      search: ['lan'],
      options: ['edns0', 'trust-ad'],
    });
    expect(containerResolvConf(host).nameservers).toEqual(['192.0.2.53']);
    expect(containerResolvConf('nameserver 127.0.0.53\n', ['192.0.2.1']).nameservers).toEqual([
      '192.0.2.1',
    ]);
    expect(() => renderResolvConf({ nameservers: ['dns.example'] })).toThrow(
      expect.objectContaining({ field: 'nameserver' }),
    );
  });
});
