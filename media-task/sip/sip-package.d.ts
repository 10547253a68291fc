/**
 * The part of the untyped npm package `sip` (0.0.6) that sip-stack.ts uses: parser, stringifier, transactions. Only sip-stack.ts may import it:
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
  /** The transaction layer reads only `max-forwards` (for the ACK of a non-2xx; default 70). */
  export interface PackageOptions {
    'max-forwards'?: number;
  }
  export interface PackageConnection {
    send(message: PackageMessage): void;
    release(): void;
    protocol: string;
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
    makeTransactionLayer(
      options: PackageOptions,
      open: (target: PackageRemote, onError?: (error: unknown) => void) => PackageConnection,
    ): PackageTransactionLayer;
    /** One whole message (headers, blank line, body); undefined when the start line or a header line is unreadable. */
    parse(message: string): PackageMessage | undefined;
    generateBranch(): string;
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
