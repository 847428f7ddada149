//! The claim path: claim a batch of ready messages and record their completion, on
//! SQLite (always) and PostgreSQL (when `STEWARD_BENCH_PG` names a server URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`; a throw-away database is created).
//!
//! Run: `cargo bench --bench queue_claim`.

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use steward::bench::BenchDatabase;
use steward::db::Db;
use steward::queue::{
    ClaimSpec, Completion, MessageState, NewMessage, claim, complete_batch, put_many,
};
use steward::settings::DatabaseSettings;

const BACKLOG: usize = 50_000;

fn spec(limit: usize) -> ClaimSpec {
    ClaimSpec {
        queue_names: vec!["generic".into()],
        min_priority: 0,
        max_priority: 200,
        zone: "default".into(),
        roles: vec!["automate".into()],
        server_guid: "bench".into(),
        limit,
    }
}

fn fill(db: &Db, n: usize) {
    let messages: Vec<NewMessage> = (0..n)
        .map(|_| NewMessage::new("Diagnostics.noop").expect("command"))
        .collect();
    db.with_conn(|c| put_many(c, &messages)).expect("put");
}

fn open(server: Option<&str>) -> (BenchDatabase, Db) {
    let database = BenchDatabase::create(server).expect("bench database");
    let db = Db::connect(&DatabaseSettings {
        url: database.url.clone(),
        pool_size: 4,
        connect_timeout: Duration::from_secs(5),
    })
    .expect("connect");
    db.with_conn(|c| steward::db::migrate(c, 0))
        .expect("migrate");
    (database, db)
}

fn claim_and_complete(c: &mut Criterion, name: &str, db: &Db) {
    let mut group = c.benchmark_group(format!("queue_claim/{name}"));
    group.sample_size(20);
    for batch in [1usize, 100, 1000] {
        group.throughput(criterion::Throughput::Elements(batch as u64));
        group.bench_function(format!("claim_{batch}"), |b| {
            b.iter_batched(
                || {
                    let ready = db
                        .with_conn(steward::queue::queue_counts)
                        .map(|q| q.totals["ready"])
                        .unwrap_or(0);
                    if ready < batch as i64 {
                        fill(db, BACKLOG);
                    }
                },
                |_| {
                    let now = Utc::now().naive_utc();
                    let claimed = db.with_conn(|c| claim(c, &spec(batch))).expect("claim");
                    let done: Vec<Completion> = claimed
                        .iter()
                        .map(|m| Completion::of(m, MessageState::Ok, String::new(), "bench-1"))
                        .collect();
                    black_box(
                        db.with_conn(|c| complete_batch(c, "bench", &done, now))
                            .expect("complete"),
                    );
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let (_sqlite, db) = open(None);
    fill(&db, BACKLOG);
    claim_and_complete(c, "sqlite", &db);
    if let Ok(server) = std::env::var("STEWARD_BENCH_PG") {
        let (_pg, db) = open(Some(&server));
        fill(&db, BACKLOG);
        claim_and_complete(c, "postgresql", &db);
    }
}

criterion_group!(queue, benches);
criterion_main!(queue);
