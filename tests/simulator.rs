//! The cluster simulator as clients see it: the real kubectl, paging, watches with
//! bookmarks and in-stream 410s, bearer tokens, outages, determinism.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Duration;

use common::{Sim, http_get};
use serde_json::{Value, json};

fn kubectl(sim: &Sim, args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new("kubectl")
        .args(["--server", &sim.url])
        .args(args)
        .env("KUBECONFIG", home.path().join("none"))
        .env("HOME", home.path())
        .output()
        .expect("kubectl is installed");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn kubectl_reads_nodes_pods_and_events() {
    let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "7", "--seed", "21"]);
    let nodes = kubectl(&sim, &["get", "nodes"]);
    let lines: Vec<&str> = nodes.lines().collect();
    assert!(
        lines[0].contains("NAME") && lines[0].contains("STATUS") && lines[0].contains("VERSION"),
        "{nodes}"
    );
    assert_eq!(lines.len(), 4, "{nodes}");
    assert!(lines[1..].iter().all(|l| l.contains(" Ready ")), "{nodes}");

    let pods = kubectl(&sim, &["get", "pods", "-A"]);
    let header = pods.lines().next().unwrap_or_default();
    for column in ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(column), "{pods}");
    }
    assert_eq!(pods.lines().count(), 1 + 21, "{pods}");

    let json: Value =
        serde_json::from_str(&kubectl(&sim, &["get", "pods", "-A", "-o", "json"])).expect("json");
    let items = json["items"].as_array().expect("items");
    assert_eq!(items.len(), 21);
    assert!(
        items
            .iter()
            .all(|p| p["kind"] == "Pod" && p["spec"]["nodeName"].is_string())
    );
    let api: Value = sim.get_json("/api/v1/pods");
    let uids = |v: &[Value]| {
        v.iter()
            .map(|p| p["metadata"]["uid"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(uids(items), uids(api["items"].as_array().expect("items")));

    // Churn makes Events kubectl shows.
    sim.admin("/_sim/churn", json!({"restart": 1, "node_not_ready": 1}));
    let events = kubectl(&sim, &["get", "events", "-A"]);
    assert!(
        events
            .lines()
            .next()
            .is_some_and(|h| h.contains("REASON") && h.contains("OBJECT")),
        "{events}"
    );
    assert!(
        events.contains("BackOff")
            && events.contains("NodeNotReady")
            && events.contains("Scheduled"),
        "{events}"
    );
    let nodes = kubectl(&sim, &["get", "nodes"]);
    assert!(nodes.contains("NotReady"), "{nodes}");

    // Namespaced requests, single objects, the apps group.
    let ns = items[0]["metadata"]["namespace"].as_str().expect("ns");
    let name = items[0]["metadata"]["name"].as_str().expect("name");
    let one = kubectl(&sim, &["get", "pod", "-n", ns, name, "-o", "json"]);
    assert!(one.contains(name));
    let rs = kubectl(&sim, &["get", "replicasets", "-A"]);
    assert!(rs.lines().count() > 1, "{rs}");
    let missing = Command::new("kubectl")
        .args(["--server", &sim.url, "get", "pod", "-n", ns, "no-such-pod"])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("kubectl");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}

#[test]
fn lists_page_with_one_resource_version_and_expired_tokens_get_410() {
    let sim = Sim::start(&["--nodes", "4", "--pods-per-node", "25"]);
    let mut names = std::collections::HashSet::new();
    let mut versions = std::collections::HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = sim.get_json(&format!("/api/v1/pods?limit=30&continue={token}"));
        pages += 1;
        versions.insert(
            page["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        for p in page["items"].as_array().expect("items") {
            assert!(
                names.insert(p["metadata"]["name"].as_str().unwrap_or("").to_string()),
                "no duplicates"
            );
        }
        token = page["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if token.is_empty() {
            break;
        }
        if pages == 2 {
            // A change between pages does not change the list's version.
            sim.admin("/_sim/churn", json!({"create": 1}));
        }
    }
    assert_eq!(pages, 4);
    assert!(names.len() >= 100);
    assert_eq!(versions.len(), 1);
    // `?&` is tolerated; garbage tokens are a 400, expired ones a 410.
    assert_eq!(
        http_get(&format!("{}/api/v1/nodes?&limit=2", sim.url)).0,
        200
    );
    let first = sim.get_json("/api/v1/pods?limit=10");
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let (status, body) = http_get(&format!(
        "{}/api/v1/pods?limit=10&continue=garbage",
        sim.url
    ));
    assert_eq!(status, 400, "{body}");
    sim.admin("/_sim/expire", json!({}));
    let (status, body) = http_get(&format!(
        "{}/api/v1/pods?limit=10&continue={token}",
        sim.url
    ));
    assert_eq!(status, 410, "{body}");
    let status_obj: Value = serde_json::from_str(&body).expect("Status");
    assert_eq!(status_obj["kind"], "Status");
    assert_eq!(status_obj["reason"], "Expired");
    // Namespaced lists hold only their namespace.
    let ns = first["items"][0]["metadata"]["namespace"]
        .as_str()
        .expect("ns")
        .to_string();
    let scoped = sim.get_json(&format!("/api/v1/namespaces/{ns}/pods"));
    assert!(scoped["items"].as_array().is_some_and(
        |i| !i.is_empty() && i.iter().all(|p| p["metadata"]["namespace"] == ns.as_str())
    ));
}

/// Reads watch events until `n` arrived or the stream ended.
fn watch_events(url: &str, n: usize) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(url).call().expect("watch");
    assert_eq!(response.status().as_u16(), 200);
    let reader = BufReader::new(response.into_body().into_reader());
    let mut events = Vec::new();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        events.push(serde_json::from_str(&line).expect("one JSON event per line"));
        if events.len() >= n {
            break;
        }
    }
    events
}

#[test]
fn watches_replay_changes_send_bookmarks_and_report_410_in_the_stream() {
    let sim = Sim::start(&[
        "--nodes",
        "2",
        "--pods-per-node",
        "5",
        "--watch-history",
        "50",
    ]);
    let list = sim.get_json("/api/v1/pods");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let changed = sim.admin(
        "/_sim/churn",
        json!({"create": 1, "delete": 1, "restart": 1}),
    );
    let events = watch_events(
        &format!("{}/api/v1/pods?watch=1&resourceVersion={rv}", sim.url),
        3,
    );
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["ADDED", "DELETED", "MODIFIED"], "{events:?}");
    assert_eq!(
        events[0]["object"]["metadata"]["uid"],
        changed["created"][0]["uid"]
    );
    assert_eq!(
        events[1]["object"]["metadata"]["uid"],
        changed["deleted"][0]["uid"]
    );
    let versions: Vec<u64> = events
        .iter()
        .filter_map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()?
                .parse()
                .ok()
        })
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");

    // Without a version: the current state as ADDED events.
    let initial = watch_events(&format!("{}/api/v1/nodes?watch=true", sim.url), 2);
    assert!(
        initial
            .iter()
            .all(|e| e["type"] == "ADDED" && e["object"]["kind"] == "Node")
    );

    // Live events arrive while watching, and bookmarks carry the latest version.
    let url = format!(
        "{}/api/v1/nodes?watch=1&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds=5",
        sim.url, versions[2]
    );
    let watcher = std::thread::spawn(move || watch_events(&url, 1));
    std::thread::sleep(Duration::from_millis(500));
    sim.admin("/_sim/churn", json!({"node_not_ready": 1}));
    let live = watcher.join().expect("watcher");
    assert_eq!(live[0]["type"], "MODIFIED", "{live:?}");

    // History is bounded: a version older than it gets one ERROR event with a 410 Status.
    for _ in 0..10 {
        sim.admin("/_sim/churn", json!({"relabel": 10}));
    }
    let gone = watch_events(
        &format!("{}/api/v1/pods?watch=1&resourceVersion={rv}", sim.url),
        5,
    );
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0]["type"], "ERROR");
    assert_eq!(gone[0]["object"]["code"], 410);
    assert_eq!(gone[0]["object"]["reason"], "Expired");
    assert!(sim.stats()["history"].as_u64().is_some_and(|h| h <= 50));
}

#[test]
fn bookmarks_keep_a_quiet_watch_current() {
    let sim = Sim::start(&[
        "--nodes",
        "1",
        "--pods-per-node",
        "2",
        "--bookmark-interval",
        "1s",
    ]);
    let rv = sim.get_json("/api/v1/pods")["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    sim.admin("/_sim/churn", json!({"node_not_ready": 1}));
    let events = watch_events(
        &format!(
            "{}/api/v1/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true",
            sim.url
        ),
        1,
    );
    assert_eq!(events[0]["type"], "BOOKMARK", "{events:?}");
    let at: u64 = events[0]["object"]["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("rv");
    assert!(
        at > rv.parse::<u64>().expect("rv"),
        "the bookmark moves past changes of other kinds"
    );
}

#[test]
fn tokens_outages_and_the_openshift_flavor() {
    let sim = Sim::start(&[
        "--nodes",
        "1",
        "--pods-per-node",
        "3",
        "--token",
        "t0k3n",
        "--flavor",
        "openshift",
    ]);
    let (status, body) = http_get(&format!("{}/api/v1/pods", sim.url));
    assert_eq!(status, 401, "{body}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str| {
        let mut r = agent
            .get(format!("{}{path}", sim.url))
            .header("Authorization", "Bearer t0k3n")
            .call()
            .expect("get");
        (
            r.status().as_u16(),
            r.body_mut().read_json::<Value>().unwrap_or(Value::Null),
        )
    };
    let (status, images) = get("/apis/image.openshift.io/v1/images");
    assert_eq!(status, 200);
    let images = images["items"].as_array().cloned().unwrap_or_default();
    assert!(images.iter().all(|i| {
        i["dockerImageReference"]
            .as_str()
            .is_some_and(|r| r.contains("@sha256:"))
    }));
    let (_, pods) = get("/api/v1/pods");
    let used: std::collections::HashSet<String> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c["imageID"].as_str().map(str::to_string))
        .collect();
    let listed: std::collections::HashSet<String> = images
        .iter()
        .filter_map(|i| i["dockerImageReference"].as_str().map(str::to_string))
        .collect();
    assert!(
        used.iter().all(|u| listed.contains(u)),
        "every running image is in the image API"
    );
    assert!(listed.len() > used.len(), "and unused ones too");
    let (_, groups) = get("/apis");
    assert!(groups.to_string().contains("image.openshift.io/v1"));
    // An outage: every API request is a 503 until it ends; the admin API still answers.
    sim.admin("/_sim/outage", json!({"seconds": 1.5}));
    assert_eq!(get("/api/v1/nodes").0, 503);
    assert_eq!(sim.stats()["outage"], true);
    std::thread::sleep(Duration::from_millis(1700));
    assert_eq!(get("/api/v1/nodes").0, 200);
    let (status, body) = common::http_send(
        "POST",
        &format!("{}/_sim/churn", sim.url),
        Some(&json!({"explode": 1})),
    );
    assert_eq!(status, 400, "{body}");
}

#[test]
fn the_same_seed_gives_the_same_cluster_and_stats_count_it() {
    let a = Sim::start(&["--nodes", "2", "--pods-per-node", "6", "--seed", "9"]);
    let b = Sim::start(&["--nodes", "2", "--pods-per-node", "6", "--seed", "9"]);
    let uids = |s: &Sim| {
        s.get_json("/api/v1/pods")["items"]
            .as_array()
            .map(|i| {
                i.iter()
                    .map(|p| p["metadata"]["uid"].clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(uids(&a), uids(&b));
    let stats = a.stats();
    assert_eq!(stats["objects"]["pods"], 12);
    assert_eq!(stats["objects"]["nodes"], 2);
    assert!(stats["containers"].as_u64().is_some_and(|c| c >= 12));
    let version = a.get_json("/version");
    assert!(
        version["gitVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1."))
    );
    let resources = a.get_json("/api/v1");
    assert!(
        resources["resources"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["name"] == "pods"))
    );
}

#[test]
fn prometheus_serves_cadvisor_series_for_the_cluster() {
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "4", "--seed", "3"]);
    let pods = sim.get_json("/api/v1/pods");
    let pod = &pods["items"][0];
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().expect("ns"),
        pod["metadata"]["name"].as_str().expect("name"),
    );
    let now = chrono::Utc::now().timestamp();
    let query = format!(
        "sum by (pod) (rate(container_cpu_usage_seconds_total{{job=\"kubelet\",namespace=\"{ns}\",pod=\"{name}\",container!=\"\"}}[2m]))"
    );
    let url = format!(
        "{}/api/v1/query_range?start={}&end={now}&step=20",
        sim.url,
        now - 600
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut reply = agent
        .post(&url)
        .send_form([("query", query.as_str())])
        .expect("query_range");
    assert_eq!(reply.status().as_u16(), 200);
    let body: Value = reply.body_mut().read_json().expect("json");
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let series = body["data"]["result"].as_array().expect("result");
    assert_eq!(series.len(), 1, "{body}");
    assert_eq!(series[0]["metric"]["pod"], name);
    let values = series[0]["values"].as_array().expect("values");
    assert_eq!(values.len(), 31);
    assert!(values.iter().all(|v| {
        v[1].as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(|x| x > 0.0)
    }));

    // Nodes: the root cgroup, and machine capacity.
    let (status, text) = http_get(&format!(
        "{}/api/v1/query?query=machine_cpu_cores&time={now}",
        sim.url
    ));
    assert_eq!(status, 200, "{text}");
    let cores: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        cores["data"]["result"].as_array().map(Vec::len),
        Some(2),
        "{cores}"
    );

    // Prometheus' own limit, word for word.
    let (status, text) = http_get(&format!(
        "{}/api/v1/query_range?query=up&start=0&end=11001&step=1",
        sim.url
    ));
    assert_eq!(status, 400);
    let error: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(error["errorType"], "bad_data");
    assert_eq!(
        error["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );

    // A new pod has series as soon as it exists.
    let created = sim.admin("/_sim/churn", json!({"create": 1}));
    let new_pod = created["created"][0]["name"].as_str().expect("name");
    let later = chrono::Utc::now().timestamp() + 30;
    let (_, text) = http_get(&format!(
        "{}/api/v1/query?query=container_memory_usage_bytes%7Bpod%3D%22{new_pod}%22%7D&time={later}",
        sim.url
    ));
    let memory: Value = serde_json::from_str(&text).expect("json");
    assert!(
        memory["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{memory}"
    );
}

/// An instant PromQL query at `time` (seconds), POSTed as a form as Grafana does; the
/// result vector.
fn promql(sim: &Sim, query: &str, time: i64) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut reply = agent
        .post(&format!("{}/api/v1/query", sim.url))
        .send_form([("query", query), ("time", &time.to_string())])
        .expect("query");
    let body: Value = reply.body_mut().read_json().expect("json");
    assert_eq!(body["status"], "success", "{query}: {body}");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The value of a one-series (or aggregated) instant query.
fn promql_value(sim: &Sim, query: &str, time: i64) -> f64 {
    let result = promql(sim, query, time);
    assert_eq!(result.len(), 1, "{query}: {result:?}");
    result[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Kubernetes' `Ki` quantities, as the simulator writes node memory.
fn kibibytes(quantity: &str) -> f64 {
    quantity
        .strip_suffix("Ki")
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(f64::NAN, |k| k * 1024.0)
}

#[test]
fn prometheus_serves_up_node_exporter_and_kube_state_series_matching_the_api() {
    let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "5", "--seed", "8"]);
    let now = chrono::Utc::now().timestamp() + 2;
    let pods = sim.get_json("/api/v1/pods");
    let pods = pods["items"].as_array().expect("pods").clone();
    let nodes = sim.get_json("/api/v1/nodes");
    let nodes = nodes["items"].as_array().expect("nodes").clone();
    let deployments = sim.get_json("/apis/apps/v1/deployments");
    let deployments = deployments["items"]
        .as_array()
        .expect("deployments")
        .clone();
    assert_eq!(nodes.len(), 3);

    // A kubelet, a cAdvisor and a node-exporter target per node; KSM, the API server and
    // Prometheus once. All up.
    assert_eq!(promql_value(&sim, "count(up)", now), 3.0 * 3.0 + 3.0);
    assert_eq!(promql_value(&sim, "sum(up)", now), 12.0);
    assert_eq!(
        promql(
            &sim,
            r#"up{job="kubelet",metrics_path="/metrics/cadvisor"}"#,
            now
        )
        .len(),
        3
    );

    // kube-state-metrics: the pods, phases, restarts and deployments the API lists.
    assert_eq!(
        promql_value(&sim, "count(kube_pod_info)", now),
        pods.len() as f64
    );
    let running = pods
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count();
    assert_eq!(
        promql_value(&sim, r#"sum(kube_pod_status_phase{phase="Running"})"#, now),
        running as f64
    );
    assert_eq!(
        promql_value(&sim, "sum(kube_pod_status_phase)", now),
        pods.len() as f64,
        "one phase per pod"
    );
    let restarts: u64 = pods
        .iter()
        .flat_map(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|s| s["restartCount"].as_u64())
        .sum();
    assert_eq!(
        promql_value(&sim, "sum(kube_pod_container_status_restarts_total)", now),
        restarts as f64
    );
    let pod = &pods[0];
    let info = promql(
        &sim,
        &format!(
            r#"kube_pod_info{{namespace="{}",pod="{}"}}"#,
            pod["metadata"]["namespace"].as_str().expect("ns"),
            pod["metadata"]["name"].as_str().expect("name")
        ),
        now,
    );
    assert_eq!(info.len(), 1);
    assert_eq!(info[0]["metric"]["uid"], pod["metadata"]["uid"]);
    assert_eq!(info[0]["metric"]["node"], pod["spec"]["nodeName"]);
    assert_eq!(info[0]["metric"]["host_ip"], pod["status"]["hostIP"]);
    assert_eq!(info[0]["metric"]["job"], "kube-state-metrics");
    let desired: u64 = deployments
        .iter()
        .filter_map(|d| d["spec"]["replicas"].as_u64())
        .sum();
    assert_eq!(
        promql_value(&sim, "sum(kube_deployment_spec_replicas)", now),
        desired as f64
    );
    assert_eq!(
        promql_value(
            &sim,
            r#"sum(kube_node_status_condition{condition="Ready",status="true"})"#,
            now
        ),
        3.0
    );

    // node-exporter: each node's memory and CPUs are its capacity.
    let by_node = promql(&sim, "sum by (node) (node_memory_MemTotal_bytes)", now);
    assert_eq!(by_node.len(), 3);
    for node in &nodes {
        let name = node["metadata"]["name"].as_str().expect("name");
        let capacity = kibibytes(
            node["status"]["capacity"]["memory"]
                .as_str()
                .expect("memory"),
        );
        let served = by_node
            .iter()
            .find(|s| s["metric"]["node"] == name)
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok());
        assert_eq!(served, Some(capacity), "{name}");
        let cores: f64 = node["status"]["capacity"]["cpu"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .expect("cpu");
        assert_eq!(
            promql_value(
                &sim,
                &format!(r#"count(node_cpu_seconds_total{{node="{name}",mode="idle"}})"#),
                now
            ),
            cores
        );
        let used = promql_value(
            &sim,
            &format!(r#"sum(rate(node_cpu_seconds_total{{node="{name}",mode!="idle"}}[5m]))"#),
            now,
        );
        assert!(used > 0.0 && used < cores, "{name}: {used} of {cores}");
    }
    let (status, text) = http_get(&format!(
        "{}/api/v1/label/mountpoint/values?match[]=node_filesystem_avail_bytes",
        sim.url
    ));
    assert_eq!(status, 200, "{text}");
    let mountpoints: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(mountpoints["data"], json!(["/", "/run"]));

    // A node going NotReady takes its targets down; a new pod shows up in KSM.
    let changed = sim.admin("/_sim/churn", json!({"node_not_ready": 1, "create": 1}));
    let down = changed["nodes_not_ready"][0]["name"]
        .as_str()
        .expect("node");
    let later = chrono::Utc::now().timestamp() + 2;
    assert_eq!(promql_value(&sim, "sum(up)", later), 12.0 - 3.0);
    assert_eq!(
        promql_value(&sim, &format!(r#"sum(up{{instance="{down}"}})"#), later),
        0.0
    );
    assert!(
        promql(&sim, &format!(r#"node_load1{{node="{down}"}}"#), later).is_empty(),
        "a NotReady node's node-exporter is not scraped"
    );
    assert_eq!(
        promql_value(
            &sim,
            r#"sum(kube_node_status_condition{condition="Ready",status="false"})"#,
            later
        ),
        1.0
    );
    assert_eq!(
        promql_value(&sim, "count(kube_pod_info)", later),
        pods.len() as f64 + 1.0
    );
}

/// Runs kubectl expecting it to fail; its stderr.
fn kubectl_fails(sim: &Sim, args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new("kubectl")
        .args(["--server", &sim.url])
        .args(args)
        .env("KUBECONFIG", home.path().join("none"))
        .env("HOME", home.path())
        .output()
        .expect("kubectl is installed");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "kubectl {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn kubectl_label_and_field_selectors_filter_lists() {
    let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "7", "--seed", "21"]);
    let all = sim.get_json("/api/v1/pods");
    let pods = all["items"].as_array().expect("items").clone();
    let app = pods[0]["metadata"]["labels"]["app"]
        .as_str()
        .expect("app label")
        .to_string();
    let with_app: Vec<&Value> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app.as_str())
        .collect();
    let got: Value = serde_json::from_str(&kubectl(
        &sim,
        &[
            "get",
            "pods",
            "-A",
            "-l",
            &format!("app={app}"),
            "-o",
            "json",
        ],
    ))
    .expect("json");
    assert_eq!(names(&got).len(), with_app.len(), "{got}");
    assert!(with_app.len() < pods.len());
    let table = kubectl(&sim, &["get", "pods", "-A", "-l", &format!("app={app}")]);
    assert_eq!(table.lines().count(), 1 + with_app.len(), "{table}");
    let others: Value = serde_json::from_str(&kubectl(
        &sim,
        &[
            "get",
            "pods",
            "-A",
            "-l",
            &format!("app!={app},app"),
            "-o",
            "json",
        ],
    ))
    .expect("json");
    assert_eq!(names(&others).len(), pods.len() - with_app.len());
    let none = kubectl(&sim, &["get", "pods", "-A", "-l", "!app"]);
    assert!(none.trim().is_empty(), "{none}");
    let set = sim.get_json(&format!(
        "/api/v1/pods?labelSelector=app%20in%20({app},nothing)"
    ));
    assert_eq!(names(&set).len(), with_app.len());

    // Field selectors: the node's pods, as `kubectl describe node` asks for them.
    let on_node = pods
        .iter()
        .filter(|p| p["spec"]["nodeName"] == "node-001")
        .count();
    let got: Value = serde_json::from_str(&kubectl(
        &sim,
        &[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=node-001,status.phase!=Failed",
            "-o",
            "json",
        ],
    ))
    .expect("json");
    assert_eq!(names(&got).len(), on_node);
    assert!(
        got["items"]
            .as_array()
            .is_some_and(|i| i.iter().all(|p| p["spec"]["nodeName"] == "node-001"))
    );
    let one = kubectl(
        &sim,
        &["get", "nodes", "--field-selector", "metadata.name=node-002"],
    );
    assert_eq!(one.lines().count(), 2, "{one}");
    assert!(one.contains("node-002"), "{one}");

    // Malformed selectors and unsupported fields: kubectl's error, a non-zero exit.
    let err = kubectl_fails(&sim, &["get", "pods", "-A", "-l", "app in ("]);
    assert!(err.contains("unable to parse requirement"), "{err}");
    let err = kubectl_fails(
        &sim,
        &["get", "pods", "-A", "--field-selector", "spec.nodeNam=x"],
    );
    assert!(err.contains("field label not supported"), "{err}");
    let (code, body) = http_get(&format!(
        "{}/api/v1/pods?labelSelector=a%3D%3D%3Db",
        sim.url
    ));
    assert_eq!(code, 400, "{body}");
    let refusal: Value = serde_json::from_str(&body).expect("Status");
    assert_eq!(
        (
            &refusal["kind"],
            &refusal["status"],
            &refusal["reason"],
            &refusal["code"]
        ),
        (
            &json!("Status"),
            &json!("Failure"),
            &json!("BadRequest"),
            &json!(400)
        ),
        "{refusal}"
    );
    // Paging through a filtered list keeps to the filter.
    let page = sim.get_json("/api/v1/pods?limit=2&fieldSelector=spec.nodeName%3Dnode-000");
    assert!(
        page["metadata"].get("remainingItemCount").is_none(),
        "{page}"
    );
    assert_eq!(names(&page).len(), 2);
}

#[test]
fn kubectl_wait_and_describe_see_only_their_object() {
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "12", "--seed", "5"]);
    let pods = sim.get_json("/api/v1/pods");
    let ready = |p: &&Value| {
        p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    let items = pods["items"].as_array().expect("items");
    let target = items.iter().rev().find(ready).expect("a ready pod");
    let (ns, name) = (
        target["metadata"]["namespace"].as_str().expect("ns"),
        target["metadata"]["name"].as_str().expect("name"),
    );
    let out = kubectl(
        &sim,
        &[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{name}"),
            "-n",
            ns,
            "--timeout=20s",
        ],
    );
    assert_eq!(out.trim(), format!("pod/{name} condition met"));
    if let Some(unready) = items.iter().find(|p| !ready(p)) {
        let err = kubectl_fails(
            &sim,
            &[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{}", unready["metadata"]["name"].as_str().unwrap_or("")),
                "-n",
                unready["metadata"]["namespace"].as_str().unwrap_or(""),
                "--timeout=2s",
            ],
        );
        assert!(err.contains("timed out"), "{err}");
    }
    // describe node lists that node's pods only.
    let described = kubectl(&sim, &["describe", "node", "node-000"]);
    let on_node: Vec<&str> = items
        .iter()
        .filter(|p| p["spec"]["nodeName"] == "node-000")
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect();
    let elsewhere: Vec<&str> = items
        .iter()
        .filter(|p| p["spec"]["nodeName"] != "node-000")
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect();
    assert!(on_node.iter().all(|n| described.contains(n)), "{described}");
    assert!(
        elsewhere
            .iter()
            .all(|n| !described.contains(&format!(" {n} "))),
        "{described}"
    );
}

#[test]
fn writes_are_refused_with_405() {
    let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "3"]);
    let pod = &sim.get_json("/api/v1/pods")["items"][0];
    let (ns, name) = (
        pod["metadata"]["namespace"]
            .as_str()
            .expect("ns")
            .to_string(),
        pod["metadata"]["name"].as_str().expect("name").to_string(),
    );
    let err = kubectl_fails(&sim, &["delete", "pod", "-n", &ns, &name, "--wait=false"]);
    assert!(
        err.contains("MethodNotAllowed") || err.contains("not supported"),
        "{err}"
    );
    let err = kubectl_fails(&sim, &["label", "pod", "-n", &ns, &name, "a=b"]);
    assert!(
        err.contains("MethodNotAllowed") || err.contains("not supported"),
        "{err}"
    );
    sim.get_json(&format!("/api/v1/namespaces/{ns}/pods/{name}"));
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let (code, body) = common::http_send(
            method,
            &format!("{}/api/v1/namespaces/{ns}/pods/{name}", sim.url),
            Some(&json!({})),
        );
        assert_eq!(code, 405, "{method}: {body}");
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "MethodNotAllowed");
        assert_eq!(body["code"], 405);
    }
    let (code, _) = common::http_send(
        "POST",
        &format!("{}/apis/apps/v1/namespaces/{ns}/deployments", sim.url),
        Some(&json!({})),
    );
    assert_eq!(code, 405);
}

#[test]
fn legacy_watch_paths_filtered_watches_and_versions_ahead() {
    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "5", "--seed", "8"]);
    let list = sim.get_json("/api/v1/pods");
    let rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("rv");
    let pod = &list["items"][3];
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().expect("ns"),
        pod["metadata"]["name"].as_str().expect("name"),
    );
    // /api/v1/watch/…/{name}: that one object, then the stream ends at the timeout.
    let one = watch_events(
        &format!(
            "{}/api/v1/watch/namespaces/{ns}/pods/{name}?timeoutSeconds=1",
            sim.url
        ),
        10,
    );
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0]["object"]["metadata"]["name"], name);
    let deployments = watch_events(
        &format!(
            "{}/apis/apps/v1/watch/deployments?timeoutSeconds=1",
            sim.url
        ),
        1,
    );
    assert_eq!(deployments[0]["object"]["kind"], "Deployment");
    let nodes = watch_events(
        &format!("{}/api/v1/watch/nodes?timeoutSeconds=1", sim.url),
        10,
    );
    assert_eq!(nodes.len(), 2);

    // A label-selected watch sees relabelled pods enter the selection as ADDED.
    let url = format!(
        "{}/api/v1/pods?watch=1&resourceVersion={rv}&labelSelector=steward.sim%2Frevision&timeoutSeconds=0",
        sim.url
    );
    let watcher = std::thread::spawn(move || watch_events(&url, 1));
    // A version ahead of the store: changes up to it are withheld, not refused.
    let ahead = rv + 2;
    let url = format!(
        "{}/api/v1/pods?watch=1&resourceVersion={ahead}&timeoutSeconds=10",
        sim.url
    );
    let ahead_watcher = std::thread::spawn(move || watch_events(&url, 1));
    std::thread::sleep(Duration::from_millis(500));
    sim.admin("/_sim/churn", json!({"relabel": 3}));
    let entered = watcher.join().expect("watcher");
    assert_eq!(entered[0]["type"], "ADDED", "{entered:?}");
    assert!(entered[0]["object"]["metadata"]["labels"]["steward.sim/revision"].is_string());
    let later = ahead_watcher.join().expect("watcher");
    assert_eq!(
        later[0]["object"]["metadata"]["resourceVersion"],
        (rv + 3).to_string(),
        "{later:?}"
    );

    // A list at a version the store never reaches: 504 with kube-apiserver's cause.
    let (code, body) = http_get(&format!(
        "{}/api/v1/pods?resourceVersion={}",
        sim.url,
        rv + 1000
    ));
    assert_eq!(code, 504, "{body}");
    let timeout: Value = serde_json::from_str(&body).expect("Status");
    assert_eq!(timeout["reason"], "Timeout");
    assert_eq!(
        timeout["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
}

#[test]
fn watch_lists_send_initial_events_and_their_end_bookmark() {
    let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "2"]);
    let events = watch_events(
        &format!(
            "{}/api/v1/nodes?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
            sim.url
        ),
        4,
    );
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["ADDED", "ADDED", "ADDED", "BOOKMARK"], "{events:?}");
    assert_eq!(
        events[3]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let current = sim.get_json("/api/v1/nodes")["metadata"]["resourceVersion"].clone();
    assert_eq!(events[3]["object"]["metadata"]["resourceVersion"], current);
    // Without NotOlderThan (or without bookmarks) the options are invalid: 422.
    let (code, body) = http_get(&format!(
        "{}/api/v1/nodes?watch=1&sendInitialEvents=true&allowWatchBookmarks=true",
        sim.url
    ));
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("NotOlderThan"), "{body}");
    // The initial state at a version the store never reaches: one ERROR event, 504.
    let rv: u64 = current.as_str().and_then(|v| v.parse().ok()).expect("rv");
    let too_far = watch_events(
        &format!(
            "{}/api/v1/nodes?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion={}",
            sim.url,
            rv + 50
        ),
        2,
    );
    assert_eq!(too_far.len(), 1, "{too_far:?}");
    assert_eq!(too_far[0]["type"], "ERROR");
    assert_eq!(too_far[0]["object"]["code"], 504);
}

#[test]
fn kubectl_tables_wide_describe_and_api_resources() {
    let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "10", "--seed", "4"]);
    let header = |args: &[&str]| {
        let out = kubectl(&sim, args);
        let first = out.lines().next().unwrap_or_default().to_string();
        (first, out)
    };
    let (h, out) = header(&["get", "pods", "-A", "-o", "wide"]);
    for column in [
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ] {
        assert!(h.contains(column), "{column}: {out}");
    }
    let (h, out) = header(&["get", "nodes", "-o", "wide"]);
    for column in [
        "ROLES",
        "VERSION",
        "INTERNAL-IP",
        "OS-IMAGE",
        "KERNEL-VERSION",
        "CONTAINER-RUNTIME",
    ] {
        assert!(h.contains(column), "{column}: {out}");
    }
    let (h, out) = header(&["get", "deployments", "-A"]);
    for column in ["READY", "UP-TO-DATE", "AVAILABLE"] {
        assert!(h.contains(column), "{column}: {out}");
    }
    let (h, out) = header(&["get", "replicasets", "-A", "-o", "wide"]);
    for column in ["DESIRED", "CURRENT", "CONTAINERS", "IMAGES", "SELECTOR"] {
        assert!(h.contains(column), "{column}: {out}");
    }
    let (h, out) = header(&["get", "services", "-A"]);
    for column in ["TYPE", "CLUSTER-IP", "PORT(S)"] {
        assert!(h.contains(column), "{column}: {out}");
    }
    assert!(out.contains("80/TCP"), "{out}");
    let (h, out) = header(&["get", "namespaces"]);
    assert!(h.contains("STATUS") && out.contains("Active"), "{out}");

    let pod = &sim.get_json("/api/v1/pods")["items"][0];
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().expect("ns"),
        pod["metadata"]["name"].as_str().expect("name"),
    );
    let described = kubectl(&sim, &["describe", "pod", "-n", ns, name]);
    for field in [
        "Name:",
        "Namespace:",
        "Node:",
        "Status:",
        "IP:",
        "Containers:",
        "Conditions:",
    ] {
        assert!(described.contains(field), "{field}: {described}");
    }
    let described = kubectl(&sim, &["describe", "node", "node-001"]);
    for field in [
        "Roles:",
        "Capacity:",
        "System Info:",
        "Non-terminated Pods:",
    ] {
        assert!(described.contains(field), "{field}: {described}");
    }
    // --sort-by sorts on the whole objects the Table rows carry (includeObject=Object).
    let sorted = kubectl(
        &sim,
        &[
            "get",
            "pods",
            "-A",
            "--sort-by=.metadata.creationTimestamp",
            "-o",
            "wide",
        ],
    );
    assert_eq!(sorted.lines().count(), 1 + 30, "{sorted}");
    let by_name = kubectl(
        &sim,
        &[
            "get",
            "pods",
            "-A",
            "--sort-by=.metadata.name",
            "--no-headers",
        ],
    );
    let names: Vec<&str> = by_name
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let mut expected = names.clone();
    expected.sort_unstable();
    assert_eq!(names, expected, "{by_name}");
    // get all: the kinds in the "all" category.
    let everything = kubectl(&sim, &["get", "all", "-A"]);
    for kind in ["pod/", "service/", "deployment.apps/", "replicaset.apps/"] {
        assert!(everything.contains(kind), "{kind}: {everything}");
    }
    // rollout status reads generation, updatedReplicas and the conditions.
    let deployment = &sim.get_json("/apis/apps/v1/deployments")["items"][0];
    let rolled = kubectl(
        &sim,
        &[
            "rollout",
            "status",
            &format!(
                "deployment/{}",
                deployment["metadata"]["name"].as_str().expect("name")
            ),
            "-n",
            deployment["metadata"]["namespace"].as_str().expect("ns"),
            "--timeout=20s",
        ],
    );
    assert!(rolled.contains("successfully rolled out"), "{rolled}");
    let resources = kubectl(&sim, &["api-resources"]);
    for kind in ["pods", "nodes", "deployments", "replicasets", "events"] {
        assert!(resources.contains(kind), "{kind}: {resources}");
    }
}

/// `kubectl explain` against the simulator's `/openapi/v3` documents. Verified by hand
/// with the kubectl here (v1.31.9, which the dispatcher picks for the simulator's v1.31
/// server): `-v=7` shows it fetch `/openapi/v3`, then `/openapi/v3/api/v1?hash=…`; with
/// schemas alone it said "GVR (/v1, Resource=pods) not found in OpenAPI schema", and it
/// found the kinds once each document had the GET paths carrying
/// `x-kubernetes-group-version-kind`. The output has kubectl's usual layout; the
/// descriptions are k8s-openapi's latest Kubernetes, not the v1.31 `/version` reports.
/// `--output plaintext-openapiv2` is not supported: kubectl asks `/openapi/v2` for
/// protobuf only, and the simulator serves JSON (it answers 406).
#[test]
fn kubectl_explain_reads_the_openapi_documents() {
    let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "2"]);
    let pods = kubectl(&sim, &["explain", "pods"]);
    assert!(pods.contains("KIND:       Pod"), "{pods}");
    assert!(pods.contains("VERSION:    v1"), "{pods}");
    assert!(
        pods.contains("Pod is a collection of containers that can run on a host."),
        "{pods}"
    );
    assert!(pods.contains("spec\t<PodSpec>"), "{pods}");
    assert!(!pods.contains("-required-"), "metadata is optional: {pods}");

    let containers = kubectl(&sim, &["explain", "pods.spec.containers"]);
    assert!(
        containers.contains("FIELD: containers <[]Container>"),
        "{containers}"
    );
    assert!(
        containers.contains("List of containers belonging to the pod."),
        "{containers}"
    );
    assert!(containers.contains("image\t<string>"), "{containers}");

    let replicas = kubectl(&sim, &["explain", "deployments.spec.replicas"]);
    assert!(replicas.contains("GROUP:      apps"), "{replicas}");
    assert!(replicas.contains("KIND:       Deployment"), "{replicas}");
    assert!(replicas.contains("FIELD: replicas <integer>"), "{replicas}");
    assert!(replicas.contains("Number of desired pods."), "{replicas}");

    let node = kubectl(&sim, &["explain", "node.status.nodeInfo.bootID"]);
    assert!(node.contains("FIELD: bootID <string>"), "{node}");

    let err = kubectl_fails(&sim, &["explain", "nosuchkind"]);
    assert!(
        err.contains("the server doesn't have a resource type \"nosuchkind\""),
        "{err}"
    );
    let err = kubectl_fails(&sim, &["explain", "pods.spec.nosuchfield"]);
    assert!(err.contains("nosuchfield"), "{err}");

    // The index names each document by its hash; an outdated hash is redirected.
    let index = sim.get_json("/openapi/v3");
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .expect("apps/v1 document")
        .to_string();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let apps = sim.get_json(&url);
    assert_eq!(
        apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    let v2 = sim.get_json("/openapi/v2");
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
}

#[test]
fn kubectl_get_watch_keeps_its_columns() {
    let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "3", "--seed", "5"]);
    let home = tempfile::tempdir().expect("home");
    let mut child = Command::new("kubectl")
        .args(["--server", &sim.url, "get", "pods", "-A", "-w"])
        .env("KUBECONFIG", home.path().join("none"))
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl is installed");
    std::thread::sleep(Duration::from_millis(1500));
    let created = sim.admin("/_sim/churn", json!({"create": 1}));
    let name = created["created"][0]["name"]
        .as_str()
        .expect("name")
        .to_string();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().expect("kubectl output");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.contains("READY") && header.contains("STATUS"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("NAMESPACE")).count(),
        1,
        "the header is printed once: {text}"
    );
    let line = text
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{name} not in {text}"));
    // The watched pod's row has every column, not just NAME and AGE.
    assert!(line.split_whitespace().count() >= 6, "{line}\n{text}");
    assert!(line.contains('/'), "READY column: {line}");
}

/// kube-runtime's watcher in its watch-list mode (`sendInitialEvents`), reading typed
/// k8s-openapi objects: the initial state, its end, then live changes.
#[test]
fn kube_runtime_streaming_lists_read_typed_objects() {
    use futures::StreamExt;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use kube::runtime::watcher;

    let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "6", "--seed", "12"]);
    let pods = sim.get_json("/api/v1/pods")["items"]
        .as_array()
        .map_or(0, Vec::len);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let url: http::Uri = sim.url.parse().expect("url");
        let client = kube::Client::try_from(kube::Config::new(url)).expect("client");
        let deployments: kube::Api<Deployment> = kube::Api::all(client.clone());
        let listed = deployments
            .list(&Default::default())
            .await
            .expect("typed deployments");
        assert!(listed.items.iter().all(|d| d.spec.template.spec.is_some()));

        let api: kube::Api<Pod> = kube::Api::all(client);
        let config = watcher::Config::default().streaming_lists();
        let mut stream = watcher(api, config).boxed();
        let mut initial = 0;
        let deadline = std::time::Duration::from_secs(20);
        loop {
            let event = tokio::time::timeout(deadline, stream.next())
                .await
                .expect("the initial state in time")
                .expect("a stream")
                .expect("no watch error");
            match event {
                watcher::Event::Init => {}
                watcher::Event::InitApply(pod) => {
                    assert!(pod.status.and_then(|s| s.host_ips).is_some());
                    initial += 1;
                }
                watcher::Event::InitDone => break,
                other => panic!("before InitDone: {other:?}"),
            }
        }
        assert_eq!(initial, pods);
        // Live: a new pod arrives as Apply.
        let created = sim.admin("/_sim/churn", json!({"create": 1}));
        let uid = created["created"][0]["uid"]
            .as_str()
            .expect("uid")
            .to_string();
        loop {
            let event = tokio::time::timeout(deadline, stream.next())
                .await
                .expect("the new pod in time")
                .expect("a stream")
                .expect("no watch error");
            if let watcher::Event::Apply(pod) = event
                && pod.metadata.uid.as_deref() == Some(uid.as_str())
            {
                break;
            }
        }
    });
}
