-- Alerts (issue 13): raised by event policies, received from Prometheus Alertmanager,
-- or Steward's own control alerts. One row per firing episode of a fingerprint: a
-- repeat updates it (occurrences, last_seen_on), a resolve closes it, and a later
-- firing opens a new row.
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    description TEXT NOT NULL,
    url TEXT NOT NULL,
    provider_id BIGINT,
    container_node_id BIGINT,
    container_group_id BIGINT,
    container_project_id BIGINT,
    target_kind TEXT NOT NULL,
    target_name TEXT NOT NULL,
    alert_labels TEXT NOT NULL,
    event_stream_id BIGINT,
    occurrences BIGINT NOT NULL,
    started_on TIMESTAMP NOT NULL,
    ended_on TIMESTAMP,
    last_seen_on TIMESTAMP NOT NULL,
    acknowledged BOOLEAN NOT NULL,
    acknowledged_by TEXT NOT NULL,
    acknowledged_on TIMESTAMP,
    assignee TEXT NOT NULL,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX alerts_episode ON alerts (source, fingerprint, started_on);
-- At most one open alert per fingerprint, whoever raises it at the same time.
CREATE UNIQUE INDEX alerts_open ON alerts (source, fingerprint) WHERE ended_on IS NULL;
CREATE INDEX alerts_by_status ON alerts (status, started_on);
CREATE INDEX alerts_by_provider ON alerts (provider_id, started_on);
CREATE INDEX alerts_by_node ON alerts (container_node_id, started_on);
CREATE INDEX alerts_by_group ON alerts (container_group_id, started_on);

-- What the notifier delivers (role notifier): webhooks and e-mails, each retried with
-- backoff until it is delivered; every attempt and its outcome is recorded.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    event_stream_id BIGINT,
    alert_id BIGINT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_on TIMESTAMP NOT NULL,
    last_error TEXT NOT NULL,
    created_on TIMESTAMP NOT NULL,
    delivered_on TIMESTAMP
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_on);
CREATE INDEX notifications_by_target ON notifications (kind, target, status);

CREATE TABLE notification_attempts (
    id BIGSERIAL PRIMARY KEY,
    notification_id BIGINT NOT NULL,
    attempted_on TIMESTAMP NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX notification_attempts_of ON notification_attempts (notification_id);
