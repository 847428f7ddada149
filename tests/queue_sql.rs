//! The queue's statements, driven through the library against each backend: claim
//! routing and order, task serialisation, dedup and merge, completion hooks,
//! fencing of stale claims, hand-back, requeue of a dead server's messages, purge,
//! maintained counters, input validation, poison messages and the cost of a claim
//! beside a backlog nobody serves.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{TestDb, counter, lib_db};
use steward::db::Db;
use steward::queue::{
    ClaimSpec, Completion, DedupKey, MessageState, MessageUpdate, NewMessage, PutOutcome, claim,
    complete_batch, fold_queue_counters, purge_finished, put, put_many, put_or_update,
    put_unless_exists, queue_counts, requeue_messages_of,
};

fn spec(guid: &str, zone: &str, roles: &[&str], limit: usize) -> ClaimSpec {
    ClaimSpec {
        queue_names: vec!["generic".into()],
        min_priority: 0,
        max_priority: 200,
        zone: zone.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        server_guid: guid.into(),
        limit,
    }
}

fn msg(command: &str) -> NewMessage {
    NewMessage::new(command).expect("command")
}

fn claim_ids(db: &Db, s: &ClaimSpec) -> Vec<i64> {
    db.with_conn(|c| claim(c, s))
        .expect("claim")
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// The `ok` end of the first claim of message `id`.
fn ok(id: i64) -> Completion {
    Completion {
        id,
        attempt: 1,
        state: MessageState::Ok,
        error: String::new(),
        worker: "test-1".into(),
        hook: None,
        delivered_in: Duration::ZERO,
        command: "T.t".into(),
    }
}

const GUID_A: &str = "0aaaaaaa-0000-4000-8000-00000000000a";
const GUID_B: &str = "0bbbbbbb-0000-4000-8000-00000000000b";

both_backends!(claims_route_by_zone_role_and_server, |db: TestDb| {
    let db = lib_db(&db);
    let any = db.with_conn(|c| put(c, &msg("T.any"))).expect("put");
    let east = db
        .with_conn(|c| put(c, &msg("T.east").with_zone("east")))
        .expect("put");
    let west = db
        .with_conn(|c| put(c, &msg("T.west").with_zone("west")))
        .expect("put");
    let auto = db
        .with_conn(|c| put(c, &msg("T.auto").with_role("automate").expect("role")))
        .expect("put");
    let report = db
        .with_conn(|c| put(c, &msg("T.rep").with_role("reporting").expect("role")))
        .expect("put");
    let mine = db
        .with_conn(|c| put(c, &msg("T.mine").with_server(GUID_A)))
        .expect("put");
    let theirs = db
        .with_conn(|c| put(c, &msg("T.theirs").with_server(GUID_B)))
        .expect("put");

    let mut got = claim_ids(&db, &spec(GUID_A, "east", &["automate"], 100));
    got.sort();
    assert_eq!(got, vec![any, east, auto, mine]);
    // What is left belongs to others.
    let mut rest = claim_ids(&db, &spec(GUID_B, "west", &["reporting"], 100));
    rest.sort();
    assert_eq!(rest, vec![west, report, theirs]);
});

both_backends!(
    claims_follow_priority_then_id_and_respect_the_limit_and_ceiling,
    |db: TestDb| {
        let db = lib_db(&db);
        let mut ids = Vec::new();
        for p in [100, 20, 150, 0, 20, 100] {
            ids.push(
                db.with_conn(|c| put(c, &msg("T.p").with_priority(p).expect("p")))
                    .expect("put"),
            );
        }
        // The priority pool takes only priority <= 20, most urgent first.
        let mut urgent = spec("g", "default", &[], 10);
        urgent.max_priority = 20;
        assert_eq!(claim_ids(&db, &urgent), vec![ids[3], ids[1], ids[4]]);
        // A generic pool beside a priority pool leaves the urgent ones alone.
        let mut normal = spec("g", "default", &[], 10);
        normal.min_priority = 21;
        let late = db
            .with_conn(|c| put(c, &msg("T.p").with_priority(5).expect("p")))
            .expect("put");
        assert_eq!(
            claim_ids(&db, &{
                let mut n = normal.clone();
                n.limit = 1;
                n
            }),
            vec![ids[0]]
        );
        assert_eq!(claim_ids(&db, &urgent), vec![late]);
        assert_eq!(claim_ids(&db, &spec("g", "default", &[], 1)), vec![ids[5]]);
        assert_eq!(claim_ids(&db, &spec("g", "default", &[], 2)), vec![ids[2]]);
        assert!(claim_ids(&db, &spec("g", "default", &[], 2)).is_empty());
    }
);

both_backends!(
    deliver_on_holds_a_message_back_until_its_time,
    |db: TestDb| {
        let db = lib_db(&db);
        let later = Utc::now().naive_utc() + chrono::Duration::seconds(2);
        let id = db
            .with_conn(|c| put(c, &msg("T.later").deliver_on(later)))
            .expect("put");
        assert!(claim_ids(&db, &spec("g", "default", &[], 10)).is_empty());
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(claim_ids(&db, &spec("g", "default", &[], 10)), vec![id]);
    }
);

both_backends!(a_task_runs_one_message_at_a_time, |db: TestDb| {
    let db = lib_db(&db);
    let a1 = db
        .with_conn(|c| put(c, &msg("T.a").with_task("task-a")))
        .expect("put");
    let a2 = db
        .with_conn(|c| put(c, &msg("T.a").with_task("task-a")))
        .expect("put");
    let b1 = db
        .with_conn(|c| put(c, &msg("T.b").with_task("task-b")))
        .expect("put");
    let free = db.with_conn(|c| put(c, &msg("T.free"))).expect("put");
    // One per task in a batch; a busy task blocks its next message.
    let mut first = claim_ids(&db, &spec("g", "default", &[], 10));
    first.sort();
    assert_eq!(first, vec![a1, b1, free]);
    assert!(claim_ids(&db, &spec("h", "default", &[], 10)).is_empty());
    let now = Utc::now().naive_utc();
    db.with_conn(|c| complete_batch(c, "g", &[ok(a1)], now))
        .expect("complete");
    assert_eq!(claim_ids(&db, &spec("h", "default", &[], 10)), vec![a2]);
});

both_backends!(
    put_unless_exists_and_put_or_update_deduplicate,
    |db: TestDb| {
        let db = lib_db(&db);
        let m = msg("Provider.refresh").with_instance(7).with_queue("ems_7");
        let first = db
            .with_conn(|c| put_unless_exists(c, &m, DedupKey::WAITING))
            .expect("put");
        let again = db
            .with_conn(|c| put_unless_exists(c, &m, DedupKey::WAITING))
            .expect("put");
        assert!(matches!(first, PutOutcome::Inserted(_)));
        assert_eq!(again, PutOutcome::Existing(first.id()));
        // Another instance is another message.
        let other = db
            .with_conn(|c| put_unless_exists(c, &m.clone().with_instance(8), DedupKey::WAITING))
            .expect("put");
        assert!(matches!(other, PutOutcome::Inserted(_)));

        // Merge: targets collapse into the waiting message's args.
        let merge = |add: &'static str| {
            move |existing: &steward::queue::QueueMessage| {
                let mut targets: Vec<String> =
                    serde_json::from_str(&existing.args).unwrap_or_default();
                targets.push(add.to_string());
                Some(MessageUpdate {
                    args: Some(serde_json::to_string(&targets).unwrap_or_default()),
                    ..Default::default()
                })
            }
        };
        let merged = db
            .with_conn(|c| put_or_update(c, &m, DedupKey::WAITING, merge("pod-1")))
            .expect("merge");
        assert_eq!(merged, PutOutcome::Updated(first.id()));
        db.with_conn(|c| put_or_update(c, &m, DedupKey::WAITING, merge("pod-2")))
            .expect("merge");
        let mut s = spec("g", "default", &[], 10);
        s.queue_names = vec!["ems_7".into()];
        let claimed = db.with_conn(|c| claim(c, &s)).expect("claim");
        let refresh = claimed
            .iter()
            .find(|x| x.id == first.id())
            .expect("claimed");
        assert_eq!(refresh.args, r#"["pod-1","pod-2"]"#);

        // A running refresh is never merged into: one runs, one waits.
        let next = db
            .with_conn(|c| put_or_update(c, &m, DedupKey::WAITING, merge("pod-3")))
            .expect("merge");
        assert!(matches!(next, PutOutcome::Inserted(id) if id != first.id()));
        let again = db
            .with_conn(|c| put_or_update(c, &m, DedupKey::WAITING, merge("pod-4")))
            .expect("merge");
        assert_eq!(again, PutOutcome::Updated(next.id()));
    }
);

both_backends!(
    concurrent_put_unless_exists_inserts_one_message,
    |db: TestDb| {
        let db = lib_db(&db);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let m = msg("Metric.capture").with_instance(42);
                    db.with_conn(|c| put_unless_exists(c, &m, DedupKey::WAITING_OR_RUNNING))
                        .expect("put")
                })
            })
            .collect();
        let outcomes: Vec<PutOutcome> = threads
            .into_iter()
            .map(|t| t.join().expect("join"))
            .collect();
        let inserted = outcomes
            .iter()
            .filter(|o| matches!(o, PutOutcome::Inserted(_)))
            .count();
        assert_eq!(inserted, 1, "{outcomes:?}");
        let counts = db.with_conn(queue_counts).expect("counts");
        assert_eq!(counts.totals["ready"], 1);
    }
);

both_backends!(
    commit_hooks_run_once_and_only_for_messages_still_held,
    |db: TestDb| {
        let db = lib_db(&db);
        let ids: Vec<i64> = (0..3)
            .map(|_| db.with_conn(|c| put(c, &msg("T.h"))).expect("put"))
            .collect();
        let claimed = claim_ids(&db, &spec("g", "default", &[], 2));
        assert_eq!(claimed, ids[..2].to_vec());
        let hook = || -> steward::queue::CommitHook {
            std::sync::Arc::new(|c| {
                use diesel::RunQueryDsl;
                diesel::sql_query(
                    "INSERT INTO diagnostic_counters (name, value) VALUES ('hooks', 1) \
                 ON CONFLICT (name) DO UPDATE SET value = diagnostic_counters.value + 1",
                )
                .execute(c)?;
                Ok(())
            })
        };
        let failing: steward::queue::CommitHook = std::sync::Arc::new(|_| {
            Err(steward::db::DbError::NotFound(
                "the thing the hook needed".into(),
            ))
        });
        let now = Utc::now().naive_utc();
        let batch = vec![
            Completion {
                hook: Some(hook()),
                ..ok(ids[0])
            },
            Completion {
                hook: Some(failing),
                ..ok(ids[1])
            },
            // Never claimed by "g": ignored, its hook not run.
            Completion {
                hook: Some(hook()),
                ..ok(ids[2])
            },
        ];
        let report = db
            .with_conn(|c| complete_batch(c, "g", &batch, now))
            .expect("complete");
        assert_eq!(
            report.recorded,
            vec![(ids[0], MessageState::Ok), (ids[1], MessageState::Error)]
        );
        assert_eq!(report.stale, vec![ids[2]]);
        let value: i64 = db
            .with_conn(|c| {
                use diesel::prelude::*;
                use steward::db::schema::diagnostic_counters as dc;
                Ok(dc::table
                    .filter(dc::name.eq("hooks"))
                    .select(dc::value)
                    .first(c)?)
            })
            .expect("counter");
        assert_eq!(value, 1);
    }
);

both_backends!(
    a_dead_servers_messages_return_to_ready_then_fail_after_max_attempts,
    |db: TestDb| {
        let db = lib_db(&db);
        let id = db.with_conn(|c| put(c, &msg("T.r"))).expect("put");
        for attempt in 1..=3 {
            assert_eq!(claim_ids(&db, &spec("dead", "default", &[], 1)), vec![id]);
            let now = Utc::now().naive_utc();
            let r = db
                .with_conn(|c| requeue_messages_of(c, &["dead".to_string()], 3, now))
                .expect("requeue");
            if attempt < 3 {
                assert_eq!((r.ready, r.failed), (1, 0));
            } else {
                assert_eq!((r.ready, r.failed), (0, 1));
            }
        }
        let counts = db.with_conn(queue_counts).expect("counts");
        assert_eq!(counts.totals["error"], 1);
    }
);

both_backends!(finished_messages_are_purged_in_batches, |db: TestDb| {
    let db = lib_db(&db);
    let messages: Vec<NewMessage> = (0..25).map(|_| msg("T.p")).collect();
    db.with_conn(|c| put_many(c, &messages)).expect("put");
    let ids = claim_ids(&db, &spec("g", "default", &[], 20));
    let now = Utc::now().naive_utc();
    let batch: Vec<Completion> = ids.iter().map(|id| ok(*id)).collect();
    db.with_conn(|c| complete_batch(c, "g", &batch, now))
        .expect("complete");
    let later = now + chrono::Duration::seconds(1);
    assert_eq!(
        db.with_conn(|c| purge_finished(c, later, 8))
            .expect("purge"),
        8
    );
    assert_eq!(
        db.with_conn(|c| purge_finished(c, later, 100))
            .expect("purge"),
        12
    );
    let counts = db.with_conn(queue_counts).expect("counts");
    assert_eq!(counts.totals["ready"], 5);
    assert_eq!(counts.totals["ok"], 0);
});

/// A counter hook like `Diagnostics.count`'s.
fn counting_hook() -> steward::queue::CommitHook {
    std::sync::Arc::new(|c| {
        use diesel::RunQueryDsl;
        diesel::sql_query(
            "INSERT INTO diagnostic_counters (name, value) VALUES ('fenced', 1) \
             ON CONFLICT (name) DO UPDATE SET value = diagnostic_counters.value + 1",
        )
        .execute(c)?;
        Ok(())
    })
}

fn state_of(db: &Db, id: i64) -> (String, String) {
    db.with_conn(|c| {
        use diesel::prelude::*;
        use steward::db::schema::queue_messages as qm;
        Ok(qm::table
            .find(id)
            .select((qm::state, qm::last_error))
            .first::<(String, String)>(c)?)
    })
    .expect("message")
}

both_backends!(
    a_stale_claims_results_are_discarded_even_when_its_server_holds_the_message_again,
    |db: TestDb| {
        let db = lib_db(&db);
        let id = db.with_conn(|c| put(c, &msg("T.f"))).expect("put");
        // Claim 1 by g; g is judged dead, its message requeued; g claims it again (2).
        assert_eq!(claim_ids(&db, &spec("g", "default", &[], 1)), vec![id]);
        let now = Utc::now().naive_utc();
        db.with_conn(|c| requeue_messages_of(c, &["g".to_string()], 5, now))
            .expect("requeue");
        assert_eq!(claim_ids(&db, &spec("g", "default", &[], 1)), vec![id]);
        // The first claim's handler finishes: same server, same state, stale claim.
        let stale = Completion {
            hook: Some(counting_hook()),
            ..ok(id)
        };
        let report = db
            .with_conn(|c| complete_batch(c, "g", &[stale], now))
            .expect("complete");
        assert_eq!(report.stale, vec![id]);
        assert!(report.recorded.is_empty());
        assert_eq!(counter(&db, "fenced"), 0, "a stale hook must not commit");
        assert_eq!(state_of(&db, id).0, "dequeue");
        // The current claim's completion counts, once.
        let current = Completion {
            attempt: 2,
            hook: Some(counting_hook()),
            ..ok(id)
        };
        let report = db
            .with_conn(|c| complete_batch(c, "g", std::slice::from_ref(&current), now))
            .expect("complete");
        assert_eq!(report.recorded, vec![(id, MessageState::Ok)]);
        assert_eq!(counter(&db, "fenced"), 1);
        // Delivered twice (a retried batch): the second finds it finished.
        let again = db
            .with_conn(|c| complete_batch(c, "g", &[current], now))
            .expect("complete");
        assert_eq!(again.stale, vec![id]);
        assert_eq!(counter(&db, "fenced"), 1);
    }
);

both_backends!(
    a_handed_back_claim_is_ready_again_and_fenced,
    |db: TestDb| {
        let db = lib_db(&db);
        let id = db.with_conn(|c| put(c, &msg("T.b"))).expect("put");
        assert_eq!(claim_ids(&db, &spec("g", "default", &[], 1)), vec![id]);
        let now = Utc::now().naive_utc();
        let back = Completion {
            state: MessageState::Ready,
            ..ok(id)
        };
        let report = db
            .with_conn(|c| complete_batch(c, "g", std::slice::from_ref(&back), now))
            .expect("hand back");
        assert_eq!(report.recorded, vec![(id, MessageState::Ready)]);
        assert_eq!(state_of(&db, id).0, "ready");
        // Another server claims it; a late hand-back of the old claim changes nothing.
        assert_eq!(claim_ids(&db, &spec("h", "default", &[], 1)), vec![id]);
        let report = db
            .with_conn(|c| complete_batch(c, "g", &[back], now))
            .expect("late hand back");
        assert_eq!(report.stale, vec![id]);
        assert_eq!(state_of(&db, id).0, "dequeue");
    }
);

/// Counts by state, zone and role, straight from the table.
fn counted(db: &Db) -> std::collections::BTreeMap<(String, String, String), i64> {
    db.with_conn(|c| {
        use diesel::dsl::count_star;
        use diesel::prelude::*;
        use steward::db::schema::queue_messages as qm;
        Ok(qm::table
            .group_by((qm::state, qm::zone, qm::role))
            .select((qm::state, qm::zone, qm::role, count_star()))
            .load::<(String, String, String, i64)>(c)?
            .into_iter()
            .map(|(s, z, r, n)| ((s, z, r), n))
            .collect())
    })
    .expect("count")
}

fn from_counters(db: &Db) -> std::collections::BTreeMap<(String, String, String), i64> {
    let counts = db.with_conn(queue_counts).expect("counts");
    let mut out = std::collections::BTreeMap::new();
    for (state, zones) in counts.by_state {
        for (zone, roles) in zones {
            for (role, n) in roles {
                out.insert((state.clone(), zone.clone(), role), n);
            }
        }
    }
    out
}

both_backends!(
    maintained_counters_match_the_table_through_every_change,
    |db: TestDb| {
        let db = lib_db(&db);
        let mut messages: Vec<NewMessage> = (0..30).map(|_| msg("T.c")).collect();
        messages.extend((0..7).map(|_| msg("T.c").with_zone("east")));
        messages.extend((0..5).map(|_| msg("T.c").with_role("reporting").expect("role")));
        db.with_conn(|c| put_many(c, &messages)).expect("put");
        assert_eq!(from_counters(&db), counted(&db));
        let ids = claim_ids(&db, &spec("g", "east", &[], 20));
        assert_eq!(from_counters(&db), counted(&db));
        let now = Utc::now().naive_utc();
        let mut batch: Vec<Completion> = ids[..10].iter().map(|id| ok(*id)).collect();
        batch.push(Completion {
            state: MessageState::Error,
            error: "no".into(),
            ..ok(ids[10])
        });
        db.with_conn(|c| complete_batch(c, "g", &batch, now))
            .expect("complete");
        db.with_conn(fold_queue_counters).expect("fold");
        assert_eq!(from_counters(&db), counted(&db));
        db.with_conn(|c| requeue_messages_of(c, &["g".to_string()], 5, now))
            .expect("requeue");
        assert_eq!(from_counters(&db), counted(&db));
        let later = now + chrono::Duration::seconds(1);
        db.with_conn(|c| purge_finished(c, later, 100))
            .expect("purge");
        db.with_conn(fold_queue_counters).expect("fold");
        db.with_conn(fold_queue_counters).expect("fold twice");
        assert_eq!(from_counters(&db), counted(&db));
        assert_eq!(from_counters(&db).values().sum::<i64>(), 31);
    }
);

both_backends!(
    puts_refuse_what_a_claim_or_an_index_would_choke_on,
    |db: TestDb| {
        let db = lib_db(&db);
        let huge_task = msg("T.t").with_task(&"t".repeat(4096));
        let err = db
            .with_conn(|c| put(c, &huge_task))
            .expect_err("a 4 KB task id");
        assert!(err.to_string().contains("task_id"), "{err}");
        for bad in [
            msg("T.t").with_zone("ea\0st"),
            msg("T.t").with_queue("q\0"),
            msg("T.t").with_task("t\0"),
            msg("T.t").with_server("g\0"),
        ] {
            let err = db.with_conn(|c| put(c, &bad)).expect_err("NUL");
            assert!(err.to_string().contains("NUL"), "{err}");
        }
        let many = vec![msg("T.t"), huge_task];
        assert!(db.with_conn(|c| put_many(c, &many)).is_err());
        assert_eq!(counted(&db).values().sum::<i64>(), 0, "nothing half-put");
    }
);

/// Makes the database refuse to claim message `id`, as a poison message would.
fn poison(db: &Db, backend: common::Backend, id: i64) {
    use diesel::connection::SimpleConnection;
    let sql = match backend {
        common::Backend::Sqlite => format!(
            "CREATE TRIGGER poison BEFORE UPDATE OF state ON queue_messages \
             WHEN NEW.id = {id} AND NEW.state = 'dequeue' \
             BEGIN SELECT RAISE(ABORT, 'this row is poisoned'); END;"
        ),
        common::Backend::Postgres => format!(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.id = {id} AND NEW.state = 'dequeue' THEN \
                 RAISE EXCEPTION 'this row is poisoned'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER poison BEFORE UPDATE ON queue_messages \
               FOR EACH ROW EXECUTE FUNCTION poison();"
        ),
    };
    db.with_conn(|c| Ok(c.batch_execute(&sql)?))
        .expect("poison");
}

both_backends!(
    a_message_that_cannot_be_claimed_goes_to_error_and_its_queue_flows,
    |test_db: TestDb| {
        let db = lib_db(&test_db);
        let messages: Vec<NewMessage> = (0..5).map(|_| msg("T.p")).collect();
        db.with_conn(|c| put_many(c, &messages)).expect("put");
        let ids: Vec<i64> = counted_ids(&db);
        poison(&db, test_db.backend, ids[2]);
        let mut got = claim_ids(&db, &spec("g", "default", &[], 10));
        got.sort();
        assert_eq!(got, vec![ids[0], ids[1], ids[3], ids[4]]);
        let (state, why) = state_of(&db, ids[2]);
        assert_eq!(state, "error");
        assert!(why.contains("poisoned"), "{why}");
        // And the next claim does not trip over it again.
        let later = db.with_conn(|c| put(c, &msg("T.p"))).expect("put");
        assert_eq!(claim_ids(&db, &spec("g", "default", &[], 10)), vec![later]);
    }
);

fn counted_ids(db: &Db) -> Vec<i64> {
    db.with_conn(|c| {
        use diesel::prelude::*;
        use steward::db::schema::queue_messages as qm;
        Ok(qm::table.select(qm::id).order(qm::id).load::<i64>(c)?)
    })
    .expect("ids")
}

/// On PostgreSQL a 4 KB task id inserted behind the API's back cannot enter the
/// running-task index: the claim isolates it instead of stopping the queue.
#[test]
fn a_task_id_too_long_for_the_index_goes_to_error_on_postgres() {
    let test_db = TestDb::new(common::Backend::Postgres);
    let db = lib_db(&test_db);
    let ok_id = db.with_conn(|c| put(c, &msg("T.ok"))).expect("put");
    db.with_conn(|c| {
        use diesel::RunQueryDsl;
        diesel::sql_query(
            "INSERT INTO queue_messages (class_name, method_name, task_id, created_on) \
             SELECT 'T', 'big', string_agg(md5(random()::text), ''), now() \
             FROM generate_series(1, 200)",
        )
        .execute(c)?;
        Ok(())
    })
    .expect("insert behind the API");
    let big = *counted_ids(&db).last().expect("id");
    let mut got = claim_ids(&db, &spec("g", "default", &[], 10));
    got.sort();
    assert_eq!(got, vec![ok_id]);
    let (state, why) = state_of(&db, big);
    assert_eq!(state, "error");
    assert!(why.contains("cannot be claimed"), "{why}");
}

#[derive(diesel::QueryableByName)]
struct Reads {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    tuples: i64,
}

/// Rows and index entries this transaction has read from the queue table so far.
fn tuples_read(c: &mut steward::db::DbConnection) -> i64 {
    use diesel::RunQueryDsl;
    diesel::sql_query(
        "SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::BIGINT AS tuples \
         FROM pg_stat_xact_user_tables WHERE relname = 'queue_messages'",
    )
    .get_result::<Reads>(c)
    .map(|r| r.tuples)
    .unwrap_or(0)
}

/// A claim never reads the messages of a route it does not serve: with 50,000
/// waiting for a role nobody has, a claim reads a few rows (PostgreSQL counts them
/// per transaction), not the backlog.
#[test]
fn a_claim_does_not_read_a_backlog_it_cannot_serve() {
    let test_db = TestDb::new(common::Backend::Postgres);
    let db = lib_db(&test_db);
    let backlog: Vec<NewMessage> = (0..50_000)
        .map(|_| msg("T.unserved").with_role("reporting").expect("role"))
        .collect();
    db.with_conn(|c| put_many(c, &backlog)).expect("backlog");
    let mine: Vec<NewMessage> = (0..20).map(|_| msg("T.mine")).collect();
    db.with_conn(|c| put_many(c, &mine)).expect("put");
    db.with_conn(|c| {
        use diesel::RunQueryDsl;
        diesel::sql_query("ANALYZE queue_messages").execute(c)?;
        Ok(())
    })
    .expect("analyze");
    let (claimed, read) = db
        .with_conn(|c| {
            use diesel::Connection;
            c.transaction(|c| {
                let before = tuples_read(c);
                let claimed = claim(c, &spec("g", "default", &["automate"], 10))?;
                Ok::<_, steward::db::DbError>((claimed.len(), tuples_read(c) - before))
            })
        })
        .expect("claim");
    assert_eq!(claimed, 10);
    assert!(
        read < 200,
        "a claim read {read} rows beside a 50,000 backlog"
    );
}
