-- Workflow Launcher schema, version 1.
--
-- Three queues per workload, in ordinary tables keyed by workload_id:
--   source_item  items waiting for the executor (consumed when a workflow is created for them)
--   workflow     the executor's queue and the permanent record of every launch attempt
--                (consumed when the sink has delivered it)
-- plus workload_event, an append-only log per workload (and the outbox for notifications).
-- Partial indexes serve the hot queries, so a tick's cost follows the work to do, not the
-- number of finished workflows or idle workloads.

CREATE TABLE workload (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid            uuid NOT NULL UNIQUE,
    project         text NOT NULL,
    creator         text NOT NULL,
    labels          text[] NOT NULL DEFAULT '{}',
    watchers        jsonb NOT NULL DEFAULT '[]',
    source_type     text NOT NULL,
    source_config   jsonb NOT NULL,
    source_state    jsonb NOT NULL DEFAULT 'null',
    executor_type   text NOT NULL,
    executor_config jsonb NOT NULL,
    sink_type       text NOT NULL,
    sink_config     jsonb NOT NULL,
    version         text NOT NULL,
    created         timestamptz NOT NULL DEFAULT now(),
    started         timestamptz,
    stopped         timestamptz,
    aborted         timestamptz,
    finished        timestamptz,
    updated         timestamptz,
    -- when the update loop should next look at this workload (NULL: only after an event)
    wake_at         timestamptz,
    last_error      text,
    last_error_at   timestamptz,
    -- consecutive failed updates; reset by a successful one
    error_count     integer NOT NULL DEFAULT 0
);

CREATE INDEX workload_project ON workload (project, id);
-- The update loop's pick: started, unfinished workloads whose wake-up time has come.
CREATE INDEX workload_due ON workload (wake_at) WHERE started IS NOT NULL AND finished IS NULL;

CREATE TABLE source_item (
    workload_id bigint NOT NULL REFERENCES workload (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    payload     jsonb NOT NULL,
    created     timestamptz NOT NULL DEFAULT now(),
    consumed    timestamptz,
    PRIMARY KEY (workload_id, id)
) WITH (fillfactor = 90);

CREATE INDEX source_item_unconsumed ON source_item (workload_id, id) WHERE consumed IS NULL;

CREATE TABLE workflow (
    workload_id       bigint NOT NULL REFERENCES workload (id),
    id                bigint GENERATED ALWAYS AS IDENTITY,
    -- the launcher's own id: the idempotency key given to the backend
    uuid              uuid NOT NULL UNIQUE,
    source_item_id    bigint,
    status            text NOT NULL CHECK (status IN
                        ('Pending', 'Submitted', 'Queued', 'Running', 'Aborting', 'Succeeded', 'Failed', 'Aborted')),
    attempt           integer NOT NULL DEFAULT 1,
    external_id       text,
    submission        text,
    inputs            jsonb NOT NULL,
    outputs           jsonb,
    details           jsonb NOT NULL DEFAULT '{}',
    overrides         jsonb NOT NULL DEFAULT '{}',
    -- {"message": …, "kind": "workflow" | "infrastructure"}
    error             jsonb,
    retry_of          uuid,
    retried_by        uuid,
    -- launch calls made (recorded before each call, so a crash leaves a trace)
    launch_attempts   integer NOT NULL DEFAULT 0,
    -- backoff: when the next launch (Pending) or delivery (Succeeded) attempt is due
    next_attempt_at   timestamptz,
    abort_requested   timestamptz,
    created           timestamptz NOT NULL DEFAULT now(),
    submitted         timestamptz,
    updated           timestamptz NOT NULL DEFAULT now(),
    finished          timestamptz,
    consumed          timestamptz,
    delivery_attempts integer NOT NULL DEFAULT 0,
    delivery_error    text,
    PRIMARY KEY (workload_id, id)
) WITH (fillfactor = 90);

CREATE INDEX workflow_pending ON workflow (workload_id, id) WHERE status = 'Pending';
CREATE INDEX workflow_active ON workflow (workload_id, id)
    WHERE status IN ('Submitted', 'Queued', 'Running', 'Aborting');
CREATE INDEX workflow_deliverable ON workflow (workload_id, id) WHERE status = 'Succeeded' AND consumed IS NULL;
CREATE INDEX workflow_abort_requested ON workflow (workload_id, id)
    WHERE abort_requested IS NOT NULL AND status IN ('Pending', 'Submitted', 'Queued', 'Running');
-- listings and counts by status show the newest attempts only (a submission filter scans
-- these too: a separate submission index would cost every status change another write)
CREATE INDEX workflow_current ON workflow (workload_id, status, id) WHERE retried_by IS NULL;

CREATE TABLE workload_event (
    workload_id bigint NOT NULL REFERENCES workload (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    message     text NOT NULL,
    data        jsonb,
    PRIMARY KEY (workload_id, id)
);
