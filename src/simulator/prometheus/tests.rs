//! Tests of the simulated Prometheus: the regex engine, series and values, PromQL and
//! the HTTP API.

use std::sync::Arc;

use actix_web::App;
use actix_web::http::StatusCode;
use actix_web::test as web_test;
use serde_json::Value;

use super::eval::{Outcome, evaluate};
use super::http::{
    Params, format_time, parse_duration, parse_step, parse_time, write_point, write_value,
};
use super::promql::parse_query;
use super::regex::Regex;
use super::values::{At, ContainerWaves, GIB, MIB, Moments, NodeWaves, SplitMix};
use super::{
    ContainerTarget, DeploymentTarget, NodeInfoTarget, NodeTarget, PodTarget, Prometheus,
    Quantities, Topology,
};

const T0: i64 = 1_700_000_000;

/// `nodes` nodes, `pods` pods round-robin over them, pod i in namespace `ns-{i % 10}`,
/// every third pod with a sidecar, pods created a minute apart before `T0`; every
/// seventh pod Pending, the others Running; one Deployment per namespace.
fn topology(nodes: usize, pods: usize) -> Topology {
    Topology {
        nodes: (0..nodes).map(node).collect(),
        pods: (0..pods).map(|i| pod(i, nodes)).collect(),
        deployments: (0..10.min(pods))
            .map(|i| DeploymentTarget {
                namespace: format!("ns-{i}"),
                name: format!("deploy-{i}"),
                created_unix: T0 - 90_000,
                desired: 3,
                replicas: 3,
                available: 2,
                ready: 2,
                updated: 3,
            })
            .collect(),
    }
}

fn node(i: usize) -> NodeTarget {
    NodeTarget {
        name: format!("node-{i}"),
        cpu_cores: 8,
        memory_bytes: 32 << 30,
        disk_bytes: 100 << 30,
        created_unix: T0 - 100 * 86_400,
        down_since: None,
        conditions: vec![("MemoryPressure", "False"), ("Ready", "True")],
        info: NodeInfoTarget {
            internal_ip: format!("10.0.0.{}", 10 + i),
            kernel_version: "6.1.0-27-amd64",
            os_image: "Debian GNU/Linux 12 (bookworm)",
            container_runtime_version: "containerd://1.7.22",
            kubelet_version: "v1.31.2",
            kube_proxy_version: "v1.31.2",
            provider_id: format!("steward-sim://node-{i}"),
            pod_cidr: format!("10.244.{i}.0/24"),
            system_uuid: format!("uuid-{i}"),
        },
    }
}

fn pod(i: usize, nodes: usize) -> PodTarget {
    let mut containers = vec![ContainerTarget {
        name: "app".into(),
        image: format!("registry/app:{}", i % 7),
        restarts: (i % 4) as u32,
        requests: Quantities {
            cpu_millicores: Some(250),
            memory_bytes: Some(256 << 20),
        },
        limits: Quantities {
            cpu_millicores: None,
            memory_bytes: Some(512 << 20),
        },
    }];
    if i.is_multiple_of(3) {
        containers.push(ContainerTarget {
            name: "sidecar".into(),
            image: "envoy:1.30".into(),
            ..ContainerTarget::default()
        });
    }
    PodTarget {
        namespace: format!("ns-{}", i % 10),
        name: format!("pod-{i}"),
        uid: format!("0000-{i:08}"),
        node: format!("node-{}", i % nodes),
        containers,
        created_unix: T0 - 86_400 + (i as i64 % 1000) * 60,
        phase: if i % 7 == 6 { "Pending" } else { "Running" },
        pod_ip: if i % 7 == 6 {
            String::new()
        } else {
            format!("10.128.0.{}", i % 250)
        },
        owner: i
            .is_multiple_of(2)
            .then(|| ("ReplicaSet", format!("deploy-{}-abc", i % 10))),
    }
}

fn prometheus(seed: u64, topology: Topology) -> Arc<Prometheus> {
    let topology = Arc::new(topology);
    Arc::new(Prometheus::new(seed, Arc::new(move || topology.clone())))
}

/// Evaluates `query` at `t` (seconds) into (labels, value) pairs.
fn instant(prom: &Prometheus, query: &str, t: f64) -> Vec<(Vec<(String, String)>, f64)> {
    let index = prom.index();
    let expr = parse_query(query).unwrap();
    match evaluate(&index, &expr, &[(t * 1000.0) as i64]).unwrap() {
        Outcome::Scalar(v) => vec![(Vec::new(), v)],
        Outcome::Series(series) => series
            .into_iter()
            .filter_map(|(labels, values)| {
                let labels = labels
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.into_owned()))
                    .collect();
                values[0].map(|v| (labels, v))
            })
            .collect(),
    }
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn single(prom: &Prometheus, query: &str, t: f64) -> f64 {
    let result = instant(prom, query, t);
    assert_eq!(result.len(), 1, "{query}: {result:?}");
    result[0].1
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()).max(1e-12)
}

// --- regex ---

#[test]
fn regex_is_anchored_and_supports_the_subset() {
    let cases = [
        ("abc", "abc", true),
        ("abc", "xabc", false),
        ("abc", "abcd", false),
        ("a.c", "abc", true),
        ("a.*", "a", true),
        ("a.*", "ab/c", true),
        ("ab+c", "ac", false),
        ("ab+c", "abbbc", true),
        ("ab?c", "ac", true),
        ("a|b|c", "b", true),
        ("a|b|c", "d", false),
        ("(foo|bar)-[0-9]+", "bar-42", true),
        ("(foo|bar)-[0-9]+", "bar-", false),
        ("[^a-c]x", "dx", true),
        ("[^a-c]x", "bx", false),
        ("ns-\\d{1,2}", "ns-12", true),
        ("ns-\\d{1,2}", "ns-123", false),
        ("(?:a|ab)(c|bcd)(d*)", "abcd", true),
        ("^pod-.*$", "pod-1", true),
        ("", "", true),
        ("", "x", false),
        ("x*", "", true),
        ("(a*)*b", "aaab", true),
        ("[a-]", "-", true),
        ("\\.", ".", true),
        ("\\.", "x", false),
        ("pod-1|pod-2|p.d-3", "pod-3", true),
        ("pod-1|pod-2|p.d-3", "pod-4", false),
        ("web-1\\.a|web-2", "web-1.a", true),
        ("web-1\\.a|web-2", "web-1xa", false),
        // RE2 as Prometheus has it: POSIX classes, flags.
        ("[[:alpha:]]+", "abc", true),
        ("[[:alpha:]]+", "ab1", false),
        ("(?i)abc", "ABC", true),
        ("(?i)abc", "ABD", false),
    ];
    for (pattern, text, expected) in cases {
        let re = Regex::new(pattern).unwrap();
        assert_eq!(re.is_match(text), expected, "{pattern:?} on {text:?}");
    }
}

#[test]
fn bad_regexes_are_errors() {
    for pattern in ["(", "a)", "[a", "*a", "a{2,1}", "\\q"] {
        assert!(Regex::new(pattern).is_err(), "{pattern:?}");
    }
    // Nesting is bounded: an error, not a stack overflow.
    let deep = format!("{}a{}", "(".repeat(2000), ")".repeat(2000));
    assert!(Regex::new(&deep).is_err());
}

// --- selectors ---

#[test]
fn selectors_match_with_all_operators_and_absent_labels() {
    let prom = prometheus(1, topology(2, 6));
    let t = T0 as f64;
    let count = |q: &str| instant(&prom, q, t).len();
    // 6 pods, pods 0 and 3 with a sidecar: 8 containers, 6 pod cgroups, 2 nodes.
    assert_eq!(count("container_memory_usage_bytes"), 8 + 6 + 2);
    assert_eq!(count(r#"container_memory_usage_bytes{container!=""}"#), 8);
    assert_eq!(
        count(r#"container_memory_usage_bytes{container="",pod!=""}"#),
        6
    );
    assert_eq!(count(r#"container_memory_usage_bytes{id="/"}"#), 2);
    assert_eq!(
        count(r#"container_memory_usage_bytes{container="sidecar"}"#),
        2
    );
    assert_eq!(
        count(r#"container_memory_usage_bytes{container=~"side.*|nothing"}"#),
        2
    );
    assert_eq!(
        count(r#"container_memory_usage_bytes{container!~"app|sidecar"}"#),
        8
    );
    assert_eq!(
        count(r#"container_memory_usage_bytes{pod=~"pod-1|pod-3"}"#),
        1 + 2 + 2
    );
    assert_eq!(
        count(r#"container_memory_usage_bytes{namespace="ns-3",container=""}"#),
        1
    );
    assert_eq!(count(r#"{__name__=~"machine_.*"}"#), 4);
    assert_eq!(
        count(r#"{__name__="container_fs_usage_bytes", node="node-0"}"#),
        5
    );
    assert_eq!(
        count(r#"container_network_receive_bytes_total{interface="eth0"}"#),
        6 + 2
    );
    assert_eq!(count(r#"kube_node_status_capacity{resource="cpu"}"#), 2);
    let result = instant(
        &prom,
        r#"container_cpu_usage_seconds_total{pod="pod-0",container="app"}"#,
        t,
    );
    let labels = &result[0].0;
    assert_eq!(
        label(labels, "__name__"),
        Some("container_cpu_usage_seconds_total")
    );
    assert_eq!(
        label(labels, "id"),
        Some("/kubepods/burstable/pod0000-00000000/app")
    );
    assert_eq!(label(labels, "name"), Some("k8s_app_pod-0"));
    assert_eq!(label(labels, "job"), Some("kubelet"));
    assert_eq!(label(labels, "instance"), Some("node-0"));
    assert!(
        parse_query(r#"{container=""}"#).is_err(),
        "needs a non-empty matcher"
    );
}

#[test]
fn no_sample_before_the_pod_existed() {
    let prom = prometheus(1, topology(1, 1));
    let created = pod(0, 1).created_unix as f64;
    assert!(
        instant(
            &prom,
            r#"container_memory_usage_bytes{pod="pod-0"}"#,
            created - 1.0
        )
        .is_empty()
    );
    assert_eq!(
        instant(
            &prom,
            r#"container_memory_usage_bytes{pod="pod-0"}"#,
            created
        )
        .len(),
        3
    );
    assert!(
        single(
            &prom,
            r#"container_cpu_usage_seconds_total{container="app"}"#,
            created
        )
        .abs()
            < 1e-9
    );
}

// --- values ---

#[test]
fn rate_of_a_counter_equals_the_generating_rate() {
    let prom = prometheus(7, topology(1, 3));
    let p = pod(0, 1);
    let waves = ContainerWaves::new(7, &p, &p.containers[0]);
    for offset in [0.0, 600.0, 1234.5, 3000.0] {
        let t = T0 as f64 + offset;
        let rate = single(
            &prom,
            r#"rate(container_cpu_usage_seconds_total{pod="pod-0",container="app"}[1m])"#,
            t,
        );
        // The mean over the window of a 1 h sine is its midpoint value to ~1e-4.
        assert!(
            close(rate, waves.cpu.at(t - 30.0), 1e-3),
            "{rate} vs {}",
            waves.cpu.at(t - 30.0)
        );
        let irate = single(
            &prom,
            r#"irate(container_cpu_usage_seconds_total{pod="pod-0",container="app"}[1m])"#,
            t,
        );
        assert!(close(irate, waves.cpu.at(t), 2e-2));
        let increase = single(
            &prom,
            r#"increase(container_cpu_usage_seconds_total{pod="pod-0",container="app"}[1m])"#,
            t,
        );
        assert!(close(increase, rate * 60.0, 1e-9));
    }
    let base = waves.cpu.base;
    assert!((0.005..0.5).contains(&base), "{base}");
}

#[test]
fn pod_level_is_the_sum_of_its_containers() {
    let prom = prometheus(3, topology(2, 9));
    let t = T0 as f64 + 777.0;
    for metric in [
        "container_cpu_usage_seconds_total",
        "container_memory_usage_bytes",
    ] {
        let pod_level = single(
            &prom,
            &format!(r#"{metric}{{pod="pod-3",container=""}}"#),
            t,
        );
        let containers = single(
            &prom,
            &format!(r#"sum({metric}{{pod="pod-3",container!=""}})"#),
            t,
        );
        assert!(
            close(pod_level, containers, 1e-12),
            "{metric}: {pod_level} vs {containers}"
        );
    }
}

#[test]
fn node_level_is_its_pods_plus_overhead() {
    let prom = prometheus(3, topology(2, 40));
    let t = T0 as f64 + 100.0;
    let node = single(
        &prom,
        r#"container_memory_usage_bytes{id="/",node="node-1"}"#,
        t,
    );
    let pods = single(
        &prom,
        r#"sum(container_memory_usage_bytes{container="",pod!="",node="node-1"})"#,
        t,
    );
    assert!(node > pods);
    assert!(
        node - pods < 400.0 * MIB && node - pods > 200.0 * MIB,
        "{}",
        (node - pods) / MIB
    );
    let node_rate = single(
        &prom,
        r#"rate(container_cpu_usage_seconds_total{id="/",node="node-1"}[5m])"#,
        t,
    );
    let pod_rates = single(
        &prom,
        r#"sum(rate(container_cpu_usage_seconds_total{container="",pod!="",node="node-1"}[5m]))"#,
        t,
    );
    assert!(
        node_rate - pod_rates > 0.06 && node_rate - pod_rates < 0.14,
        "{node_rate} {pod_rates}"
    );
    // The node counter is the sum of the pod counters plus the overhead's integral.
    let node_counter = single(
        &prom,
        r#"container_cpu_usage_seconds_total{id="/",node="node-1"}"#,
        t,
    );
    let pod_counters = single(
        &prom,
        r#"sum(container_cpu_usage_seconds_total{container="",pod!="",node="node-1"})"#,
        t,
    );
    let overhead = NodeWaves::new(3, &prom.index().topology.nodes[1]).cpu;
    let expected = pod_counters + Moments::of(overhead, 0.0, 0.0).counter(At::new(t), 0.0);
    assert!(
        close(node_counter, expected, 1e-9),
        "{node_counter} vs {expected}"
    );
    assert_eq!(single(&prom, r#"machine_cpu_cores{node="node-1"}"#, t), 8.0);
    assert_eq!(
        single(
            &prom,
            r#"kube_node_status_capacity{node="node-1",resource="memory"}"#,
            t
        ),
        (32u64 << 30) as f64
    );
}

#[test]
fn aggregations_group_by_and_without() {
    let prom = prometheus(5, topology(3, 30));
    let t = T0 as f64;
    let by_ns = instant(
        &prom,
        r#"sum by (namespace) (container_memory_usage_bytes{container!=""})"#,
        t,
    );
    assert_eq!(by_ns.len(), 10);
    assert!(
        by_ns
            .iter()
            .all(|(labels, _)| labels.len() == 1 && labels[0].0 == "namespace")
    );
    let total = single(
        &prom,
        r#"sum(container_memory_usage_bytes{container!=""})"#,
        t,
    );
    let summed: f64 = by_ns.iter().map(|(_, v)| v).sum();
    assert!(close(total, summed, 1e-12));
    let suffix = instant(
        &prom,
        r#"sum(container_memory_usage_bytes{container!=""}) by (namespace)"#,
        t,
    );
    assert_eq!(suffix.len(), 10);
    let ns3 = single(
        &prom,
        r#"sum(container_memory_usage_bytes{container!="", namespace="ns-3"})"#,
        t,
    );
    let from_group = by_ns
        .iter()
        .find(|(l, _)| label(l, "namespace") == Some("ns-3"))
        .unwrap()
        .1;
    assert_eq!(ns3, from_group);
    assert_eq!(
        single(
            &prom,
            r#"count(container_memory_usage_bytes{container!=""})"#,
            t
        ),
        40.0
    );
    let without = instant(
        &prom,
        r#"max without (container, image, id, name) (container_memory_usage_bytes{container!=""})"#,
        t,
    );
    assert_eq!(without.len(), 30);
    assert!(
        without
            .iter()
            .all(|(l, _)| label(l, "pod").is_some() && label(l, "__name__").is_none())
    );
    let avg = single(
        &prom,
        r#"avg(container_memory_usage_bytes{container!=""})"#,
        t,
    );
    assert!(close(avg, total / 40.0, 1e-12));
    let min = single(
        &prom,
        r#"min(container_memory_usage_bytes{container!=""})"#,
        t,
    );
    let max = single(
        &prom,
        r#"max(container_memory_usage_bytes{container!=""})"#,
        t,
    );
    assert!(min < avg && avg < max && min >= 0.7 * 20.0 * MIB && max <= 1.3 * GIB);
}

#[test]
fn arithmetic_with_scalars_and_matching_vectors() {
    let prom = prometheus(5, topology(2, 4));
    let t = T0 as f64;
    let sel = r#"container_network_receive_bytes_total{pod="pod-1"}"#;
    let v = single(&prom, sel, t);
    assert_eq!(single(&prom, &format!("{sel} / 1000"), t), v / 1000.0);
    assert_eq!(
        single(&prom, &format!("{sel} * 100 + 1"), t),
        v * 100.0 + 1.0
    );
    assert_eq!(single(&prom, &format!("2 * {sel} - 1"), t), 2.0 * v - 1.0);
    assert_eq!(single(&prom, &format!("-{sel}"), t), -v);
    let tx = single(
        &prom,
        r#"container_network_transmit_bytes_total{pod="pod-1"}"#,
        t,
    );
    let both = instant(
        &prom,
        r#"sum by (pod) (rate(container_network_receive_bytes_total{pod=~"pod-.*"}[5m])) + sum by (pod) (rate(container_network_transmit_bytes_total{pod=~"pod-.*"}[5m]))"#,
        t,
    );
    assert_eq!(both.len(), 4);
    let plain = instant(
        &prom,
        &format!("{sel} + container_network_transmit_bytes_total"),
        t,
    );
    assert_eq!(plain.len(), 1);
    assert!(close(plain[0].1, v + tx, 1e-12));
    assert_eq!(label(&plain[0].0, "__name__"), None);
    assert_eq!(single(&prom, "1 + 2 * 3", t), 7.0);
    // Many-to-many is an execution error.
    let index = prom.index();
    let expr = parse_query(r#"machine_cpu_cores + {__name__=~"machine_.*"}"#).unwrap();
    let error = evaluate(&index, &expr, &[T0 * 1000])
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        (error.status, error.kind),
        (StatusCode::UNPROCESSABLE_ENTITY, "execution")
    );
}

#[test]
fn values_are_deterministic_and_depend_on_the_seed() {
    let query = r#"sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="ns-1"}[5m]))"#;
    let a = instant(&prometheus(11, topology(3, 50)), query, T0 as f64);
    let b = instant(&prometheus(11, topology(3, 50)), query, T0 as f64);
    let c = instant(&prometheus(12, topology(3, 50)), query, T0 as f64);
    assert_eq!(a.len(), 5);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.1.to_bits(), y.1.to_bits());
    }
    assert!(a.iter().zip(&c).any(|(x, y)| x.1 != y.1));
}

#[test]
fn parse_errors_and_unsupported_syntax() {
    for query in [
        "",
        "foo{",
        "rate(foo)",
        "sum(foo[5m])",
        "foo[5m]",
        "topk(3, foo)",
        "foo > 1",
        "foo + on(pod) bar",
        "sum by (a) (foo) by (b)",
        r#"foo{a=~"("}"#,
        "foo offset 5m",
        "(foo)[5m:1m]",
    ] {
        assert!(parse_query(query).is_err(), "{query:?} should fail");
    }
    for query in [
        "foo",
        "foo{a='b', c=`d`}",
        "sum without (pod) (rate(foo{a!~\"x|y\"}[1h30m])) / 2",
        "{__name__=\"foo\"}",
        "count(foo) by (a, b,)",
    ] {
        assert!(parse_query(query).is_ok(), "{query:?} should parse");
    }
}

#[test]
fn durations_and_times_parse_like_prometheus() {
    assert_eq!(parse_duration("20s"), Some(20_000));
    assert_eq!(parse_duration("1h30m"), Some(5_400_000));
    assert_eq!(parse_duration("500ms"), Some(500));
    assert_eq!(parse_duration("30m1h"), None);
    assert_eq!(parse_duration("1x"), None);
    assert_eq!(parse_step("1.5").unwrap(), 1500);
    assert_eq!(parse_time("t", "1700000000.5").unwrap(), 1_700_000_000_500);
    assert_eq!(
        parse_time("t", "2023-11-14T22:13:20Z").unwrap(),
        1_700_000_000_000
    );
    assert!(parse_time("t", "yesterday").is_err());
}

#[test]
fn values_and_times_render_like_prometheus() {
    let mut out = Vec::new();
    write_point(&mut out, &format_time(1_700_000_000_000), 0.5);
    write_point(&mut out, &format_time(1_700_000_000_500), f64::NAN);
    write_point(&mut out, &format_time(1_700_000_000_020), f64::INFINITY);
    write_point(&mut out, &format_time(0), 1e-7);
    write_point(&mut out, &format_time(-1500), 8.0);
    write_point(&mut out, &format_time(1), 1e21);
    write_point(&mut out, &format_time(2), 123456789.125);
    write_point(&mut out, &format_time(3), -0.0001);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"[1700000000,"0.5"][1700000000.5,"NaN"][1700000000.02,"+Inf"][0,"0.0000001"][-1.5,"8"][0.001,"1000000000000000000000"][0.002,"123456789.125"][0.003,"-0.0001"]"#
    );
    // The fast path is Display's format: shortest round-trip digits, no exponent
    // (the last digit may differ on exact ties, as any two shortest algorithms may).
    let mut rng = SplitMix(42);
    for _ in 0..100_000 {
        let v = f64::from_bits(rng.next());
        if !v.is_finite() {
            continue;
        }
        let mut fast = Vec::new();
        write_value(&mut fast, v);
        let fast = String::from_utf8(fast).unwrap();
        let display = v.to_string();
        assert_eq!(fast.parse::<f64>().unwrap(), v, "{fast}");
        assert_eq!(fast.len(), display.len(), "{fast} vs {display}");
        assert_eq!(
            fast[..fast.len() - 1],
            display[..display.len() - 1],
            "{fast} vs {display}"
        );
    }
}

#[test]
fn a_hundred_thousand_pods_stay_fast() {
    let prom = prometheus(1, topology(1000, 100_000));
    let start = std::time::Instant::now();
    prom.index();
    let built = start.elapsed();
    let pods: Vec<String> = (0..300).map(|i| format!("pod-{}", i * 331)).collect();
    let query = format!(
        r#"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{container!="",pod=~"{}"}}[5m]))"#,
        pods.join("|")
    );
    let params = |q: &str| {
        Params(vec![
            ("query".into(), q.to_string()),
            ("start".into(), (T0 - 3000).to_string()),
            ("end".into(), T0.to_string()),
            ("step".into(), "20s".into()),
        ])
    };
    let start = std::time::Instant::now();
    let body = prom.range_query(&params(&query)).unwrap();
    let by_pod = start.elapsed();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"]["result"].as_array().unwrap().len(), 300);
    assert_eq!(
        json["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        151
    );
    let start = std::time::Instant::now();
    let body = prom
        .range_query(&params(
            r#"sum by (pod) (container_memory_usage_bytes{namespace="ns-7",container!=""})"#,
        ))
        .unwrap();
    let by_namespace = start.elapsed();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"]["result"].as_array().unwrap().len(), 10_000);
    let start = std::time::Instant::now();
    prom.range_query(&params(
        r#"rate(container_cpu_usage_seconds_total{id="/"}[5m])"#,
    ))
    .unwrap();
    let nodes = start.elapsed();
    let start = std::time::Instant::now();
    let body = prom
        .range_query(&params("sum by (phase) (kube_pod_status_phase)"))
        .unwrap();
    let phases = start.elapsed();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"]["result"].as_array().unwrap().len(), 5);
    let start = std::time::Instant::now();
    prom.range_query(&params(
        "sum by (node) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))",
    ))
    .unwrap();
    let node_cpu = start.elapsed();
    eprintln!(
        "index {built:?}, 300 pods {by_pod:?}, namespace {by_namespace:?}, 1000 nodes {nodes:?}, \
         500,000 phase series {phases:?}, 56,000 node CPU series {node_cpu:?}"
    );
    // Generous bounds: unoptimised test builds are several times slower than release.
    assert!(by_pod.as_secs_f64() < 2.0, "{by_pod:?}");
    assert!(nodes.as_secs_f64() < 2.0, "{nodes:?}");
    assert!(node_cpu.as_secs_f64() < 2.0, "{node_cpu:?}");
}

// --- HTTP ---

async fn call(prom: &Arc<Prometheus>, req: web_test::TestRequest) -> (StatusCode, Value) {
    let app = web_test::init_service(App::new().configure(|c| prom.clone().configure(c))).await;
    let resp = web_test::call_service(&app, req.to_request()).await;
    let status = resp.status();
    let body = web_test::read_body(resp).await;
    (status, serde_json::from_slice(&body).unwrap())
}

async fn get(prom: &Arc<Prometheus>, uri: &str) -> (StatusCode, Value) {
    call(prom, web_test::TestRequest::get().uri(uri)).await
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn assert_bad_data(status: StatusCode, body: &Value, message: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().unwrap().contains(message), "{body}");
}

#[actix_web::test]
async fn instant_query_over_get() {
    let prom = prometheus(1, topology(2, 4));
    let q = encode(r#"container_memory_usage_bytes{pod="pod-1",container="app"}"#);
    let (status, body) = get(&prom, &format!("/api/v1/query?query={q}&time=1700000000.5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    let result = &body["data"]["result"][0];
    assert_eq!(result["metric"]["__name__"], "container_memory_usage_bytes");
    assert_eq!(result["metric"]["pod"], "pod-1");
    assert_eq!(result["value"][0], 1_700_000_000.5);
    let value: f64 = result["value"][1].as_str().unwrap().parse().unwrap();
    assert!(value > 14.0 * MIB);
    let (_, scalar) = get(&prom, "/api/v1/query?query=1%2B1&time=10").await;
    assert_eq!(
        scalar["data"],
        serde_json::json!({"resultType": "scalar", "result": [10, "2"]})
    );
}

#[actix_web::test]
async fn range_query_over_post_form_aligns_steps() {
    let prom = prometheus(1, topology(2, 4));
    let q = encode(r#"sum by (pod) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))"#);
    let form = format!("query={q}&start=1700000000&end=1700000100&step=20s");
    let req = web_test::TestRequest::post()
        .uri("/api/v1/query_range")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form);
    let (status, body) = call(&prom, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 4);
    assert_eq!(result[0]["metric"], serde_json::json!({"pod": "pod-0"}));
    let times: Vec<i64> = result[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(
        times,
        vec![
            1_700_000_000,
            1_700_000_020,
            1_700_000_040,
            1_700_000_060,
            1_700_000_080,
            1_700_000_100
        ]
    );
    assert!(result[0]["values"][0][1].is_string());
    // A fractional step lands on fractional timestamps, as floats.
    let uri = format!("/api/v1/query_range?query={q}&start=1700000000&end=1700000001&step=0.5");
    let (_, body) = get(&prom, &uri).await;
    assert_eq!(body["data"]["result"][0]["values"][1][0], 1_700_000_000.5);
}

#[actix_web::test]
async fn range_query_limits_points_exactly_like_prometheus() {
    let prom = prometheus(1, topology(1, 1));
    let (status, body) = get(
        &prom,
        "/api/v1/query_range?query=machine_cpu_cores&start=0&end=11000&step=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        11_001
    );
    let (status, body) = get(
        &prom,
        "/api/v1/query_range?query=machine_cpu_cores&start=0&end=11001&step=1",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        serde_json::json!({
            "status": "error",
            "errorType": "bad_data",
            "error": "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        })
    );
    let (status, body) = get(
        &prom,
        "/api/v1/query_range?query=machine_cpu_cores&start=10&end=5&step=1",
    )
    .await;
    assert_bad_data(status, &body, "end timestamp must not be before start time");
    let (status, body) = get(
        &prom,
        "/api/v1/query_range?query=machine_cpu_cores&start=0&end=5",
    )
    .await;
    assert_bad_data(status, &body, r#"invalid parameter "step""#);
    let (status, body) = get(
        &prom,
        "/api/v1/query_range?query=machine_cpu_cores&start=x&end=5&step=1",
    )
    .await;
    assert_bad_data(
        status,
        &body,
        r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#,
    );
    let (status, body) = get(
        &prom,
        "/api/v1/query_range?query=machine_cpu_cores&start=0&end=5&step=0",
    )
    .await;
    assert_bad_data(status, &body, "zero or negative query resolution step");
    // Absurd but valid numbers neither overflow nor panic.
    let (status, body) = get(
        &prom,
        "/api/v1/query_range?query=machine_cpu_cores&start=-1e300&end=1e300&step=1e290",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn bad_queries_are_bad_data() {
    let prom = prometheus(1, topology(1, 1));
    for q in [
        "sum(",
        "topk(2,machine_cpu_cores)",
        "machine_cpu_cores>1",
        "",
    ] {
        let (status, body) = get(&prom, &format!("/api/v1/query?query={}", encode(q))).await;
        assert_bad_data(status, &body, r#"invalid parameter "query""#);
    }
    let (status, body) = get(&prom, "/api/v1/query?query=machine_cpu_cores&time=soon").await;
    assert_bad_data(status, &body, r#"invalid parameter "time""#);
}

#[actix_web::test]
async fn series_and_label_endpoints() {
    let prom = prometheus(1, topology(2, 3));
    let m1 = encode(r#"container_memory_usage_bytes{pod="pod-0"}"#);
    let m2 = encode("machine_cpu_cores");
    let (status, body) = get(
        &prom,
        &format!("/api/v1/series?match%5B%5D={m1}&match%5B%5D={m2}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let series = body["data"].as_array().unwrap();
    assert_eq!(series.len(), 3 + 2);
    assert!(
        series
            .iter()
            .any(|s| s["id"] == "/kubepods/burstable/pod0000-00000000")
    );
    let (status, body) = get(&prom, "/api/v1/series").await;
    assert_bad_data(status, &body, "no match[] parameter provided");
    let (_, body) = get(&prom, "/api/v1/labels").await;
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .contains(&Value::from("namespace"))
    );
    let (_, body) = get(&prom, "/api/v1/label/namespace/values").await;
    assert_eq!(body["data"], serde_json::json!(["ns-0", "ns-1", "ns-2"]));
    let (_, body) = get(&prom, "/api/v1/label/__name__/values").await;
    // Every metric has series in this topology.
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        super::series::metrics().count()
    );
}

#[actix_web::test]
async fn responses_are_deterministic() {
    let uri = format!(
        "/api/v1/query_range?query={}&start=1700000000&end=1700003000&step=60",
        encode("container_network_transmit_bytes_total")
    );
    let (_, a) = get(&prometheus(9, topology(3, 20)), &uri).await;
    let (_, b) = get(&prometheus(9, topology(3, 20)), &uri).await;
    assert_eq!(a, b);
    assert_eq!(a["data"]["result"].as_array().unwrap().len(), 23);
}

#[test]
fn queries_are_bounded_in_depth_and_size() {
    for query in [
        format!("{}1{}", "(".repeat(5000), ")".repeat(5000)),
        format!("{}1", "-".repeat(100_000)),
        vec!["1"; 50_000].join(" + "),
        format!("{}up{}", "sum(".repeat(3000), ")".repeat(3000)),
    ] {
        let err = super::promql::parse_query(&query).expect_err("refused");
        assert!(
            err.contains("nests deeper") || err.contains("terms"),
            "{err}"
        );
    }
    assert!(super::promql::parse_query(&format!("{}1{}", "(".repeat(20), ")".repeat(20))).is_ok());
}

#[actix_web::test]
async fn labels_and_values_honour_match_and_status_endpoints_answer() {
    let prom = prometheus(1, topology(2, 4));
    let (_, all) = get(&prom, "/api/v1/label/pod/values").await;
    let all = all["data"].as_array().cloned().unwrap_or_default();
    assert!(all.len() >= 4, "{all:?}");
    let m = encode(r#"container_memory_usage_bytes{pod="pod-1"}"#);
    let (status, one) = get(&prom, &format!("/api/v1/label/pod/values?match[]={m}")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["data"], serde_json::json!(["pod-1"]));
    // Machine series carry no pod label: their label names say so.
    let m = encode("machine_cpu_cores");
    let (_, names) = get(&prom, &format!("/api/v1/labels?match[]={m}")).await;
    let names: Vec<&str> = names["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        names.contains(&"__name__") && !names.contains(&"pod"),
        "{names:?}"
    );
    let (status, body) = get(
        &prom,
        &format!("/api/v1/labels?match[]={}", encode("sum(x)")),
    )
    .await;
    assert_bad_data(status, &body, "not a vector selector");
    let (status, info) = get(&prom, "/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        info["data"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with('2'))
    );
    let app = web_test::init_service(App::new().configure(|c| prom.clone().configure(c))).await;
    for path in ["/-/healthy", "/-/ready"] {
        let resp =
            web_test::call_service(&app, web_test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
}

// --- up, node-exporter, kube-state-metrics ---

/// `topology(3, 14)` with node-1 NotReady since ten minutes before `T0`.
fn with_a_node_down() -> Topology {
    let mut t = topology(3, 14);
    t.nodes[1].down_since = Some(T0 - 600);
    t.nodes[1].conditions = vec![("MemoryPressure", "False"), ("Ready", "False")];
    t
}

#[test]
fn label_names_are_sorted_and_unique() {
    let names = super::series::LABEL_NAMES;
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
}

#[test]
fn up_has_a_target_per_node_job_and_per_cluster_service() {
    let prom = prometheus(1, with_a_node_down());
    let t = T0 as f64;
    let count = |q: &str| instant(&prom, q, t).len();
    assert_eq!(count("up"), 3 * 3 + 3);
    assert_eq!(count(r#"up{job="kubelet"}"#), 6);
    assert_eq!(
        count(r#"up{job="kubelet",metrics_path="/metrics/cadvisor"}"#),
        3
    );
    assert_eq!(count(r#"up{job="node-exporter"}"#), 3);
    // The NotReady node's three targets are down since it went NotReady, not before.
    assert_eq!(single(&prom, "sum(up)", t), 12.0 - 3.0);
    assert_eq!(single(&prom, "sum(up)", t - 601.0), 12.0);
    assert_eq!(
        single(&prom, r#"sum(up{instance="node-1"})"#, t),
        0.0,
        "node-1's targets are down"
    );
    let ksm = instant(&prom, r#"up{job="kube-state-metrics"}"#, t);
    let capacity = instant(&prom, "kube_node_status_capacity", t);
    assert_eq!(
        label(&ksm[0].0, "instance"),
        label(&capacity[0].0, "instance")
    );
    let apiserver = instant(&prom, r#"up{job="apiserver"}"#, t);
    assert_eq!(label(&apiserver[0].0, "instance"), Some("10.0.0.10:6443"));
    assert_eq!(count(r#"up{job="prometheus"}"#), 1);
}

#[test]
fn node_exporter_series_follow_the_nodes_capacity() {
    let prom = prometheus(4, topology(2, 30));
    let t = T0 as f64 + 123.0;
    let count = |q: &str| instant(&prom, q, t).len();
    // 8 cores × 8 modes per node.
    assert_eq!(count("node_cpu_seconds_total"), 2 * 8 * 8);
    assert_eq!(
        count(r#"node_cpu_seconds_total{node="node-0",mode="idle"}"#),
        8
    );
    let cpus = instant(&prom, r#"node_cpu_seconds_total{cpu="3",mode="user"}"#, t);
    assert_eq!(cpus.len(), 2);
    let labels = &cpus[0].0;
    assert_eq!(label(labels, "job"), Some("node-exporter"));
    assert_eq!(label(labels, "instance"), label(labels, "node"));
    // Every CPU spends one second per second in some mode.
    let per_node = instant(&prom, "sum by (node) (rate(node_cpu_seconds_total[5m]))", t);
    assert_eq!(per_node.len(), 2);
    for (labels, cores) in &per_node {
        assert!(close(*cores, 8.0, 1e-9), "{labels:?}: {cores}");
    }
    let busy = single(
        &prom,
        r#"sum(rate(node_cpu_seconds_total{node="node-0",mode!="idle"}[5m]))"#,
        t,
    );
    assert!(busy > 0.0 && busy < 8.0, "{busy}");
    let load1 = single(&prom, r#"node_load1{node="node-0"}"#, t);
    assert!(load1 > 0.0 && load1 < 8.0, "{load1}");
    // Counters grow.
    let later = single(
        &prom,
        r#"sum(node_cpu_seconds_total{node="node-0",mode="user"})"#,
        t + 60.0,
    );
    let now = single(
        &prom,
        r#"sum(node_cpu_seconds_total{node="node-0",mode="user"})"#,
        t,
    );
    assert!(later > now && now > 0.0, "{now} {later}");

    let total = single(&prom, r#"node_memory_MemTotal_bytes{node="node-1"}"#, t);
    assert_eq!(total, (32u64 << 30) as f64);
    let available = single(&prom, r#"node_memory_MemAvailable_bytes{node="node-1"}"#, t);
    assert!(available > 0.0 && available < total, "{available}");
    let parts = single(
        &prom,
        r#"node_memory_MemFree_bytes{node="node-1"} + node_memory_Cached_bytes{node="node-1"} + node_memory_Buffers_bytes{node="node-1"}"#,
        t,
    );
    assert!(close(parts, available, 1e-9), "{parts} {available}");
    assert_eq!(
        single(&prom, "sum(node_memory_MemTotal_bytes)", t),
        2.0 * total
    );

    let root = r#"{node="node-0",mountpoint="/",fstype="ext4",device="/dev/sda1"}"#;
    let size = single(&prom, &format!("node_filesystem_size_bytes{root}"), t);
    let free = single(&prom, &format!("node_filesystem_free_bytes{root}"), t);
    let avail = single(&prom, &format!("node_filesystem_avail_bytes{root}"), t);
    assert_eq!(size, (100u64 << 30) as f64);
    assert!(0.0 < avail && avail < free && free < size, "{avail} {free}");
    assert_eq!(count(r#"node_filesystem_size_bytes{mountpoint="/run"}"#), 2);

    let received = single(
        &prom,
        r#"rate(node_network_receive_bytes_total{node="node-0",device="eth0"}[5m])"#,
        t,
    );
    assert!(received > 0.0, "{received}");
    assert_eq!(count("node_network_transmit_bytes_total"), 2 * 2);
    let boot = single(&prom, r#"node_boot_time_seconds{node="node-0"}"#, t);
    assert!(boot >= (T0 - 100 * 86_400) as f64 && boot < t, "{boot}");
    assert_eq!(boot, boot.floor());
    // Nothing before boot.
    assert!(instant(&prom, r#"node_load1{node="node-0"}"#, boot - 1.0).is_empty());
}

#[test]
fn node_exporter_series_stop_when_the_node_goes_down() {
    let prom = prometheus(1, with_a_node_down());
    let t = T0 as f64;
    assert_eq!(instant(&prom, "node_memory_MemTotal_bytes", t).len(), 2);
    assert_eq!(
        instant(&prom, "node_memory_MemTotal_bytes", t - 601.0).len(),
        3
    );
    assert!(instant(&prom, r#"node_load5{node="node-1"}"#, t).is_empty());
}

#[test]
fn kube_state_metrics_describe_pods_nodes_and_deployments() {
    let prom = prometheus(1, with_a_node_down());
    let t = T0 as f64;
    let count = |q: &str| instant(&prom, q, t).len();
    // 14 pods, pods 6 and 13 Pending.
    assert_eq!(count("kube_pod_info"), 14);
    assert_eq!(count("kube_pod_status_phase"), 14 * 5);
    assert_eq!(single(&prom, "sum(kube_pod_status_phase)", t), 14.0);
    assert_eq!(
        single(&prom, r#"sum(kube_pod_status_phase{phase="Running"})"#, t),
        12.0
    );
    assert_eq!(
        single(&prom, r#"sum(kube_pod_status_phase{phase="Pending"})"#, t),
        2.0
    );
    let by_phase = instant(&prom, "sum by (phase) (kube_pod_status_phase)", t);
    assert_eq!(by_phase.len(), 5);
    let info = instant(&prom, r#"kube_pod_info{pod="pod-4"}"#, t);
    let labels = &info[0].0;
    assert_eq!(info[0].1, 1.0);
    assert_eq!(label(labels, "job"), Some("kube-state-metrics"));
    assert_eq!(label(labels, "namespace"), Some("ns-4"));
    assert_eq!(label(labels, "uid"), Some("0000-00000004"));
    assert_eq!(label(labels, "node"), Some("node-1"));
    assert_eq!(label(labels, "host_ip"), Some("10.0.0.11"));
    assert_eq!(label(labels, "pod_ip"), Some("10.128.0.4"));
    assert_eq!(label(labels, "created_by_kind"), Some("ReplicaSet"));
    assert_eq!(label(labels, "created_by_name"), Some("deploy-4-abc"));
    let orphan = instant(&prom, r#"kube_pod_info{pod="pod-13"}"#, t);
    assert_eq!(label(&orphan[0].0, "created_by_kind"), Some("<none>"));
    assert_eq!(label(&orphan[0].0, "pod_ip"), None, "Pending: no address");

    assert_eq!(
        single(
            &prom,
            r#"kube_pod_container_status_restarts_total{pod="pod-7",container="app"}"#,
            t
        ),
        3.0
    );
    // Pods 0, 3, 6, 9 and 12 have a sidecar.
    assert_eq!(count("kube_pod_container_status_restarts_total"), 14 + 5);
    // Sidecars set nothing; apps request CPU and memory and limit memory only.
    assert_eq!(count("kube_pod_container_resource_requests"), 14 * 2);
    assert_eq!(count("kube_pod_container_resource_limits"), 14);
    let cpu = instant(
        &prom,
        r#"kube_pod_container_resource_requests{pod="pod-2",resource="cpu"}"#,
        t,
    );
    assert_eq!(cpu[0].1, 0.25);
    assert_eq!(label(&cpu[0].0, "unit"), Some("core"));
    assert_eq!(label(&cpu[0].0, "container"), Some("app"));
    assert_eq!(label(&cpu[0].0, "node"), Some("node-2"));
    assert_eq!(
        single(
            &prom,
            r#"sum by (node) (kube_pod_container_resource_limits{node="node-0",resource="memory"})"#,
            t
        ),
        5.0 * (512u64 << 20) as f64
    );

    // Two conditions × three statuses per node; one of each is 1.
    assert_eq!(count("kube_node_status_condition"), 3 * 2 * 3);
    assert_eq!(
        single(
            &prom,
            r#"sum(kube_node_status_condition{condition="Ready",status="true"})"#,
            t
        ),
        2.0
    );
    assert_eq!(
        single(
            &prom,
            r#"kube_node_status_condition{node="node-1",condition="Ready",status="false"}"#,
            t
        ),
        1.0
    );
    let node = instant(&prom, r#"kube_node_info{node="node-2"}"#, t);
    let labels = &node[0].0;
    assert_eq!(label(labels, "internal_ip"), Some("10.0.0.12"));
    assert_eq!(label(labels, "kubelet_version"), Some("v1.31.2"));
    assert_eq!(label(labels, "provider_id"), Some("steward-sim://node-2"));

    assert_eq!(count("kube_deployment_status_replicas"), 10);
    assert_eq!(
        single(
            &prom,
            r#"kube_deployment_status_replicas_available{namespace="ns-3",deployment="deploy-3"}"#,
            t
        ),
        2.0
    );
    assert_eq!(single(&prom, "sum(kube_deployment_spec_replicas)", t), 30.0);
    // A pod's series start at its creation.
    let born = (T0 - 86_400) as f64;
    assert!(instant(&prom, r#"kube_pod_info{pod="pod-0"}"#, born - 1.0).is_empty());
    assert_eq!(
        instant(&prom, r#"kube_pod_info{pod="pod-0"}"#, born).len(),
        1
    );
}

#[actix_web::test]
async fn new_series_answer_series_labels_and_values_endpoints() {
    let prom = prometheus(1, with_a_node_down());
    let m = encode(r#"up{job="node-exporter"}"#);
    let (status, body) = get(&prom, &format!("/api/v1/series?match[]={m}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(body["data"][0]["__name__"], "up");

    let m = encode("kube_pod_status_phase");
    let (_, phases) = get(&prom, &format!("/api/v1/label/phase/values?match[]={m}")).await;
    assert_eq!(
        phases["data"],
        serde_json::json!(["Failed", "Pending", "Running", "Succeeded", "Unknown"])
    );
    let m = encode(r#"node_filesystem_avail_bytes{node="node-0"}"#);
    let (_, names) = get(&prom, &format!("/api/v1/labels?match[]={m}")).await;
    assert_eq!(
        names["data"],
        serde_json::json!([
            "__name__",
            "device",
            "fstype",
            "instance",
            "job",
            "mountpoint",
            "node"
        ])
    );
    let (_, jobs) = get(&prom, "/api/v1/label/job/values").await;
    assert_eq!(
        jobs["data"],
        serde_json::json!([
            "apiserver",
            "kube-state-metrics",
            "kubelet",
            "node-exporter",
            "prometheus"
        ])
    );
    let q = encode("sum by (node) (node_memory_MemTotal_bytes)");
    let (status, body) = get(
        &prom,
        &format!(
            "/api/v1/query_range?query={q}&start={}&end={T0}&step=60",
            T0 - 1200
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 3);
    let down = result
        .iter()
        .find(|s| s["metric"]["node"] == "node-1")
        .unwrap();
    // node-1's series stop ten minutes before the end: 10 of the 21 steps have values.
    assert_eq!(down["values"].as_array().map(Vec::len), Some(10));
}
