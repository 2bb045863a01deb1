// ---------------------------------------------------------------------------------------
// The wire protocol: JSON text frames over one WebSocket per client and tenant.
// ---------------------------------------------------------------------------------------

/** What a change does; the server also accepts any letter case. */
export type OperationType = "create" | "update" | "delete";

/** The payload of a change: the entity for create and update, its id (or null) for delete. */
export type EntryPayload<T extends EntityType> = Entities[T] | { id: string } | null;

/** A sync queue entry: one change, the `payload` of `process_sync_entry`. */
export type SyncEntry = {
  [T in EntityType]: {
    /** The change id: unique per change, the idempotency key of retries. */
    id: string;
    /** Must be the session's tenant. */
    tenantId: string;
    entityType: T;
    entityId: string;
    operationType: OperationType;
    payload: EntryPayload<T>;
    /** When the client queued it, ms since the epoch; informational. */
    timestamp?: number;
  };
}[EntityType];

/** The reasons of a `sync_nack`. */
export type NackReason =
  | "validation_error"
  | "unknown_entity"
  | "forbidden"
  | "payload_mismatch"
  | "clock_skew"
  | "too_large"
  | "expired"
  | "storage_error"
  | "overloaded"
  | "internal_error";

/** A client's message to the server. */
export type ClientMessage =
  | { type: "ping"; timestamp?: number | null }
  | { type: "process_sync_entry"; payload: SyncEntry }
  | { type: "process_sync_batch"; entries: SyncEntry[] }
  | { type: "request_initial_data"; tenant_id: string }
  | { type: "data_status_request"; tenant_id: string; entity_types?: EntityType[] | null }
  | { type: "connection_status_request" }
  | {
      type: "tenant_disconnect";
      tenant_id: string;
      reason: "user_logout" | "tenant_switch" | "tenant_deletion" | "manual_disconnect";
    }
  | { type: "hello"; client_id: string; protocol: number; cursor: number | null }
  | { type: "request_changes"; since: number; limit?: number }
  | {
      type: "subscribe";
      id: string;
      stream: string;
      parameters: string[];
      definition?: string;
      cursor?: number;
      buckets?: string[];
    }
  | { type: "unsubscribe"; id: string; ttl_secs?: number };

/** `sync_ack`: the change was processed. */
export interface SyncAck {
  type: "sync_ack";
  id: string;
  status: "processed";
  entityId: string;
  entityType: EntityType;
  operationType: OperationType;
  outcome?: "applied" | "superseded" | "duplicate";
  /** The stored version. */
  updated_at?: string;
  /** The tenant's sequence after the commit. */
  cursor?: number;
  /** The stored state, when it differs from the change: the winner of a superseded one. */
  data?: Entities[EntityType] | { id: string; deleted?: boolean };
  /** The sequence number of the stored state. */
  seq?: number;
  /** Whether the stored state is a tombstone, when `data` is present. */
  deleted?: boolean;
}

/** `sync_nack`: the change was not processed. */
export interface SyncNack {
  type: "sync_nack";
  id: string;
  status: "failed";
  entityId: string;
  entityType: string;
  operationType: string;
  reason: NackReason;
  detail: string;
  retryable?: boolean;
}

/** `data_update`: another session's change, applied on the server. */
export type DataUpdate = {
  [T in EntityType]: {
    event_type: "data_update";
    tenant_id: string;
    entity_type: T;
    operation_type: OperationType;
    /** For a delete, `single_entity` is `{ id }`. */
    data: { single_entity: Entities[T] | { id: string } };
    cursor?: number;
  };
}[EntityType];

/** Every collection of the tenant, with every live row. */
export type Collections = Record<string, Entities[EntityType][]>;

/** `initial_data_load`: the reply to `request_initial_data`. */
export interface InitialDataLoad {
  event_type: "initial_data_load";
  tenant_id: string;
  payload: Collections;
  cursor?: number;
}

/** One entry of a `changes` page. */
export type FeedChange = {
  [T in EntityType]: {
    entity_type: T;
    operation_type: OperationType;
    data: Entities[T] | { id: string };
    cursor: number;
  };
}[EntityType];

/** One change of a `stream_page`: a row put in, leaving, or deleted from a bucket. */
export type StreamChange = {
  op: "put" | "leave" | "tombstone";
  stream: string;
  bucket: string;
  entity_type: EntityType;
  entity_id: string;
  seq: number;
  data?: Entities[EntityType];
};

/** A server's message to a client. */
export type ServerMessage =
  | { type: "status"; status: "online" | "maintenance" | "shutdown" | "error"; message?: string }
  | { type: "pong"; timestamp: number | null }
  | { type: "ping"; timestamp: number }
  | SyncAck
  | SyncNack
  | DataUpdate
  | InitialDataLoad
  | {
      type: "data_status_response";
      tenant_id: string;
      entity_checksums: Record<string, { entity_id: string; checksum: string; last_modified: number }[]>;
      last_sync_time: number | null;
      server_time: number;
    }
  | {
      type: "connection_status_response";
      tenant_id: string;
      backend_status: "online";
      connection_healthy: boolean;
      stats: Record<string, unknown>;
    }
  | { type: "tenant_disconnect_ack"; tenant_id: string; status: "success"; message: string }
  | { type: "error"; message: string; original_type?: string }
  | {
      type: "welcome";
      server_time: number;
      cursor: number;
      protocol: number;
      limits: Record<string, unknown>;
    }
  | { type: "changes"; changes: FeedChange[]; cursor: number; has_more: boolean; reset: boolean }
  | { type: "subscribed"; id: string; stream: string; definition: string; buckets: string[]; cursor: number }
  | {
      type: "subscription_error";
      id: string;
      stream: string;
      code:
        | "unknown_stream"
        | "too_many_buckets"
        | "forbidden"
        | "invalid_parameters"
        | "too_many_subscriptions";
      message: string;
    }
  | { type: "stream_page"; subscription?: string; changes: StreamChange[]; has_more: boolean }
  | {
      type: "bucket_snapshot";
      subscription: string;
      stream: string;
      bucket: string;
      entity_type: EntityType;
      cursor: number;
      rows: Entities[EntityType][];
    }
  | {
      type: "bucket_removed";
      subscription: string;
      stream: string;
      bucket: string;
      reason: "revoked" | "role" | "unsubscribed" | "definition";
      ttl_secs?: number;
    }
  | { type: "checkpoint"; cursor: number; subscription?: string; pages?: number };
