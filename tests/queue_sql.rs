//! The queue's statements, driven through the library against each backend: claim
//! routing and order, task serialisation, dedup and merge, completion hooks,
//! requeue of a dead server's messages and purge.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{TestDb, lib_db};
use steward::db::Db;
use steward::queue::{
    ClaimSpec, Completion, DedupKey, MessageState, MessageUpdate, NewMessage, PutOutcome, claim,
    complete_batch, purge_finished, put, put_many, put_or_update, put_unless_exists, queue_counts,
    requeue_messages_of,
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
    let now = Utc::now().naive_utc();
    db.with_conn(|c| claim(c, s, now))
        .expect("claim")
        .into_iter()
        .map(|m| m.id)
        .collect()
}

fn ok(id: i64) -> Completion {
    Completion {
        id,
        state: MessageState::Ok,
        error: String::new(),
        worker: "test-1".into(),
        hook: None,
        delivered_in: Duration::ZERO,
        command: "T.t".into(),
    }
}

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
        .with_conn(|c| put(c, &msg("T.mine").with_server("guid-a")))
        .expect("put");
    let theirs = db
        .with_conn(|c| put(c, &msg("T.theirs").with_server("guid-b")))
        .expect("put");

    let mut got = claim_ids(&db, &spec("guid-a", "east", &["automate"], 100));
    got.sort();
    assert_eq!(got, vec![any, east, auto, mine]);
    // What is left belongs to others.
    let mut rest = claim_ids(&db, &spec("guid-b", "west", &["reporting"], 100));
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
        let now = Utc::now().naive_utc();
        let claimed = db.with_conn(|c| claim(c, &s, now)).expect("claim");
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
