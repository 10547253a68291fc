/**
 * The part of the untyped npm package `sip` (0.0.6) that sip-stack.ts uses. Only sip-stack.ts may import it:
 * the rest of the project sees our own message types.
 */
declare module 'sip' {
  export interface PackageUri {
    schema?: string;
    user?: string;
    password?: string;
    host: string;
    port?: number;
    params: Record<string, string | null | undefined>;
    headers?: Record<string, string>;
  }
  export interface PackageAddress {
    name?: string;
    uri: string | PackageUri;
    params: Record<string, string | number | null | undefined>;
  }
  export interface PackageVia {
    version?: string;
    protocol?: string;
    host?: string;
    port?: number;
    params: Record<string, string | number | null | undefined>;
  }
  /** Headers are parsed objects for the names the package knows (to, from, via, cseq, contact, route...), strings otherwise. */
  export interface PackageMessage {
    method?: string;
    uri?: string | PackageUri;
    status?: number;
    reason?: string;
    version?: string;
    headers: Record<string, unknown>;
    content?: string;
  }
  export interface PackageRemote {
    protocol: string;
    address: string;
    port: number;
    local?: { address: string; port: number };
  }
  export interface PackageOptions {
    address?: string;
    port?: number;
    publicAddress?: string;
    hostname?: string;
    udp?: boolean;
    tcp?: boolean;
    tls?: import('node:tls').TlsOptions & import('node:tls').ConnectionOptions;
    tls_port?: number;
    rport?: boolean;
    logger?: {
      send?(message: PackageMessage, target: PackageRemote): void;
      recv?(message: PackageMessage, remote: PackageRemote): void;
      error?(error: unknown): void;
    };
  }
  export interface PackageStack {
    send(message: PackageMessage, onResponse?: (response: PackageMessage) => void): void;
    destroy(): void;
    hostname(): string;
  }
  export interface PackageConnection {
    send(message: PackageMessage): void;
    release(): void;
    protocol: string;
  }
  export interface PackageTransport {
    open(target: PackageRemote, onError?: (error: unknown) => void): PackageConnection;
    get(target: PackageRemote, onError?: (error: unknown) => void): PackageConnection | undefined;
    destroy(): void;
  }
  export interface PackageTransaction {
    message?(message: PackageMessage, remote?: PackageRemote): void;
    send?(message: PackageMessage): void;
    shutdown(): void;
  }
  export interface PackageTransactionLayer {
    createServerTransaction(request: PackageMessage, connection: PackageConnection | undefined): PackageTransaction;
    createClientTransaction(
      connection: PackageConnection,
      request: PackageMessage,
      onResponse: (response: PackageMessage) => void,
    ): PackageTransaction;
    getServer(message: PackageMessage): PackageTransaction | undefined;
    getClient(message: PackageMessage): PackageTransaction | undefined;
    destroy(): void;
  }
  interface SipPackage {
    makeTransport(
      options: PackageOptions,
      onMessage: (message: PackageMessage, remote: PackageRemote) => void,
    ): PackageTransport;
    makeTransactionLayer(options: PackageOptions, open: PackageTransport['open']): PackageTransactionLayer;
    generateBranch(): string;
    create(options: PackageOptions, onRequest: (request: PackageMessage, remote: PackageRemote) => void): PackageStack;
    makeResponse(
      request: PackageMessage,
      status: number,
      reason?: string,
      extension?: { headers?: Record<string, unknown>; content?: string },
    ): PackageMessage;
    stringifyUri(uri: string | PackageUri): string;
    parseUri(uri: string | PackageUri): PackageUri | undefined;
    stringifyAuthHeader(header: Record<string, string>): string;
    stringify(message: PackageMessage): string;
  }
  const sip: SipPackage;
  export default sip;
}
