-- The notification outbox: one row per watcher of each event the notification rule picks,
-- inserted by the statement that inserts the event. A sender claims due rows (pushing `due`
-- forward as a lease, SKIP LOCKED between replicas), and marks one sent only after the
-- receiver accepted it; failures move `due` on with backoff, and after the last attempt the
-- row is given up and the reason logged on the workload.
CREATE TABLE notification (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- stable across attempts: the idempotency key receivers drop repeats by
    key         uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    workload_id bigint NOT NULL,
    event_id    bigint NOT NULL,
    watcher     jsonb NOT NULL,
    created     timestamptz NOT NULL DEFAULT now(),
    due         timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    sent        timestamptz,
    gave_up     timestamptz,
    last_error  text,
    FOREIGN KEY (workload_id, event_id) REFERENCES workload_event (workload_id, id)
);
-- the sender's query: only rows still to send
CREATE INDEX notification_due ON notification (due, id) WHERE sent IS NULL AND gave_up IS NULL;
CREATE INDEX notification_workload ON notification (workload_id);
