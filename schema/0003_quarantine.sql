-- A workload whose stored configuration cannot be loaded, or whose update throws where it
-- should not, is quarantined: the loop records why and when, backs it off, and carries on
-- with every other workload. Cleared by the next update that succeeds.
ALTER TABLE workload ADD COLUMN quarantined_at timestamptz;
