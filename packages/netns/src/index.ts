/**
 * `@tsbox/netns`: container networking for tsbox without spawning `ip`.
 *
 * - {@link Rtnetlink}: an rtnetlink client over koffi (links, veth, bridges,
 *   addresses, routes), usable in any network namespace.
 * - {@link runInNetns}: run synchronous code with the thread in another namespace.
 * - {@link ensureBridgeNetwork}, {@link attach}, {@link detach}: bridge networks,
 *   one call per container each way.
 * - {@link Ipam}: address leases per subnet, safe across processes.
 * - {@link NatTable}: published ports and opt-in masquerade in tsbox's own
 *   nftables table.
 * - {@link renderHosts}, {@link renderResolvConf}: file contents for the container.
 *
 * @packageDocumentation
 */
export {
  type AddAddressOptions,
  type Address,
  addAddress,
  deleteAddress,
  type ListAddressesFilter,
  listAddresses,
} from './address.js';
export {
  type Attachment,
  type AttachOptions,
  attach,
  type BridgeNetwork,
  type BridgeNetworkSpec,
  DEFAULT_NETWORK_STATE_DIR,
  type DetachOptions,
  deleteHostInterface,
  describeNetwork,
  detach,
  ensureBridgeNetwork,
  macForAddress,
  removeBridgeNetwork,
} from './bridge-network.js';
/** Netlink and rtnetlink numeric constants (`constants.RTM_GETLINK`, `constants.IFLA_MTU`, ...). */
export * as constants from './constants.js';
export {
  InvalidNetworkInputError,
  IpamError,
  NetlinkError,
  type NetlinkErrorDetails,
} from './errors.js';
export {
  containerResolvConf,
  type HostsOptions,
  type HostsPeer,
  parseResolvConf,
  type ResolvConf,
  renderHosts,
  renderResolvConf,
} from './hosts.js';
export { formatIp, type IpAddress, type IpPrefix, parseIp, parsePrefix, Subnet } from './ip.js';
export { Ipam, type IpamOptions, type Lease, processStartTime } from './ipam.js';
export {
  type CreateBridgeOptions,
  type CreateVethOptions,
  createBridge,
  createVeth,
  deleteLink,
  findLink,
  getLink,
  type Link,
  type LinkRef,
  listLinks,
  moveLinkToNetns,
  setLinkUp,
  setMac,
  setMaster,
  setMtu,
} from './link.js';
// Building blocks for requests Rtnetlink has no method for (`rtnetlink.socket.request(...)`).
export { type Attribute, AttributeMap, attr, type IncomingMessage } from './message.js';
export { checkInterfaceName, MAX_INTERFACE_NAME } from './names.js';
export { describeNetns, type NetnsTarget, netnsInode, runInNetns } from './netns.js';
export {
  NatTable,
  type NatTableOptions,
  NftablesError,
  type PortProtocol,
  type PublishedPort,
  type UnpublishOptions,
} from './nftables.js';
export { type NetworkingProbe, type ProbeResult, probeNetworking } from './probe.js';
export { addRoute, deleteRoute, listRoutes, type Route, type RouteSpec } from './route.js';
export { Rtnetlink } from './rtnetlink.js';
export {
  type NetlinkRequest,
  NetlinkSocket,
  type NetlinkSocketOptions,
} from './socket.js';
export type { FieldKind, StructCodec, StructValue } from './struct.js';
export { ifaddrmsg, ifinfomsg, nfgenmsg, nlmsghdr, rtmsg } from './structs.js';
export { enableRouteLocalnet, readNetSysctl, setIpForwarding, writeNetSysctl } from './sysctl.js';
