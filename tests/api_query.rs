//! ManageIQ's collection conventions on the inventory, through HTTP against a real
//! node refreshing a simulated cluster: paging and links, every filter operator
//! (labels and one association hop included), sorting, attributes, expand,
//! subcollections, the 400s, and RBAC inside the SQL — a tenant's user and a group
//! limited to a project see, count and reach only their objects (404 otherwise).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{NodeConfig, Sim, TestDb, basic_auth, steward_with_input, wait_until};
use serde_json::{Value, json};

fn all_pods(node: &common::Node) -> Vec<Value> {
    node.get_json("/api/container_groups?expand=resources&limit=1000")["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count(node: &common::Node, query: &str) -> i64 {
    let page = node.get_json(&format!("/api/container_groups?{query}"));
    page["subquery_count"]
        .as_i64()
        .or(page["count"].as_i64())
        .unwrap_or(-1)
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn filter(node: &common::Node, expr: &str) -> (i64, Vec<Value>) {
    let page = node.get_json(&format!(
        "/api/container_groups?expand=resources&limit=1000&filter[]={}",
        enc(expr)
    ));
    (
        page["subquery_count"].as_i64().unwrap_or(-1),
        page["resources"].as_array().cloned().unwrap_or_default(),
    )
}

fn names(rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

fn setup(db: &TestDb) -> (Sim, common::Node, NodeConfig, String, usize) {
    let sim = Sim::start(&["--nodes", "3", "--pods-per-node", "10", "--seed", "11"]);
    let config = NodeConfig::new(db, "query");
    let node = config.start();
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"name": "sim", "api_url": sim.url, "allow_insecure_http": true}),
    );
    assert_eq!(status, 201, "{reply}");
    let id = reply["id"].as_str().expect("id").to_string();
    let expected = sim.get_json("/api/v1/pods")["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert!(expected >= 30, "{expected}");
    assert!(
        wait_until(Duration::from_secs(60), || all_pods(&node).len()
            == expected),
        "inventory did not arrive"
    );
    (sim, node, config, id, expected)
}

both_backends!(paging_links_sorting_attributes_and_errors, |db: TestDb| {
    let (_sim, node, _config, _id, total) = setup(&db);
    // Without expand: hrefs only, absolute, from the configured URL.
    let page = node.get_json("/api/container_groups?limit=7");
    assert_eq!(page["count"].as_u64(), Some(total as u64));
    assert_eq!(page["subcount"], 7);
    assert_eq!(page["pages"].as_i64(), Some(total.div_ceil(7) as i64));
    let first = &page["resources"][0];
    assert_eq!(first.as_object().map(|o| o.len()), Some(1), "{first}");
    assert!(
        first["href"]
            .as_str()
            .is_some_and(|h| h.starts_with(&node.url()))
    );
    let links = &page["links"];
    assert!(
        links["next"]
            .as_str()
            .is_some_and(|l| l.contains("offset=7")),
        "{links}"
    );
    assert!(links.get("previous").is_none(), "{links}");
    let last: String = links["last"].as_str().expect("last").to_string();
    let last_page = node.get_json(last.trim_start_matches(&node.url()));
    assert!(last_page["links"].get("next").is_none());
    assert!(last_page["links"]["previous"].is_string());
    // Walking `next` visits every pod once.
    let mut seen = BTreeSet::new();
    let mut next = Some("/api/container_groups?limit=8".to_string());
    while let Some(path) = next {
        let page = node.get_json(&path);
        for r in page["resources"].as_array().cloned().unwrap_or_default() {
            assert!(seen.insert(r["href"].as_str().unwrap_or_default().to_string()));
        }
        next = page["links"]["next"]
            .as_str()
            .map(|l| l.trim_start_matches(&node.url()).to_string());
    }
    assert_eq!(seen.len(), total);
    // Sorting.
    let page = node
        .get_json("/api/container_groups?expand=resources&sort_by=name&sort_order=desc&limit=1000");
    let sorted: Vec<String> = page["resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut expected = sorted.clone();
    expected.sort();
    expected.reverse();
    assert_eq!(sorted, expected);
    // Attributes: only what is asked, with one association hop.
    let page = node.get_json("/api/container_groups?attributes=name,container_node.name&limit=3");
    let r = &page["resources"][0];
    assert!(
        r["name"].is_string() && r["id"].is_string() && r["href"].is_string(),
        "{r}"
    );
    assert!(r["container_node"]["name"].is_string(), "{r}");
    assert!(r.get("phase").is_none(), "{r}");
    // Every refusal is a 400 saying which part.
    for (query, needle) in [
        ("offset=ten", "offset"),
        ("limit=-1", "limit"),
        ("sort_by=nope", "nope"),
        ("sort_by=labels", "cannot be sorted"),
        ("filter[]=nope%20%3D%201", "nope"),
        ("filter[]=name%20%3D", "filter"),
        ("filter[]=restart_count%20%3E%20many", "restart_count"),
        ("attributes=secret", "secret"),
        ("colour=blue", "colour"),
        ("expand=everything", "everything"),
        ("filter[]=name%20%3D~%20%2F(%2F", "regular expression"),
    ] {
        let (status, body) = node.get(&format!("/api/container_groups?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(needle), "{query}: {body}");
        assert!(body.contains("\"kind\":\"bad_request\""), "{body}");
    }
    // The lists outside the query engine answer in the same shape: hrefs unless
    // expand=resources, paged, with links; anything else in the query is a 400.
    let roles = node.get_json("/api/server_roles");
    let count = roles["count"].as_u64().unwrap_or(0);
    assert!(count > 3, "{roles}");
    let first = &roles["resources"][0];
    assert_eq!(first.as_object().map(|o| o.len()), Some(1), "{first}");
    let page = node.get_json("/api/server_roles?expand=resources&offset=2&limit=2");
    assert_eq!(
        (page["count"].as_u64(), page["subcount"].as_u64()),
        (Some(count), Some(2))
    );
    assert_eq!(page["pages"].as_u64(), Some(count.div_ceil(2)), "{page}");
    assert!(page["resources"][0]["name"].is_string(), "{page}");
    assert!(
        page["links"]["previous"]
            .as_str()
            .is_some_and(|l| l.contains("offset=0")),
        "{page}"
    );
    assert_eq!(
        page["resources"][0]["name"],
        node.get_json("/api/server_roles?expand=resources")["resources"][2]["name"]
    );
    for query in ["colour=blue", "offset=x", "expand=everything"] {
        for list in [
            "/api/users",
            "/api/server_roles",
            "/api/tasks",
            "/api/queue/messages",
        ] {
            let (status, body) = node.get(&format!("{list}?{query}"));
            assert_eq!(status, 400, "{list}?{query}: {body}");
        }
    }
});

both_backends!(every_filter_operator, |db: TestDb| {
    let (sim, node, _config, _id, total) = setup(&db);
    let pods = all_pods(&node);
    let sample = &pods[0];
    let name = sample["name"].as_str().expect("name");
    // = and != on text.
    let (n, rows) = filter(&node, &format!("name = \"{name}\""));
    assert_eq!((n, names(&rows)), (1, BTreeSet::from([name.to_string()])));
    assert_eq!(
        filter(&node, &format!("name != \"{name}\"")).0,
        total as i64 - 1
    );
    // Wildcards.
    let prefix: String = name.chars().take(3).collect();
    let want = pods
        .iter()
        .filter(|p| p["name"].as_str().is_some_and(|n| n.starts_with(&prefix)))
        .count();
    assert_eq!(
        filter(&node, &format!("name = \"{prefix}*\"")).0,
        want as i64
    );
    assert_eq!(filter(&node, &format!("name = '{prefix}%'")).0, want as i64);
    // Regex, and its negation, case-insensitive too.
    assert_eq!(
        filter(&node, &format!("name =~ /^{prefix}/")).0,
        want as i64
    );
    assert_eq!(
        filter(&node, &format!("name !~ /^{prefix}/")).0,
        (total - want) as i64
    );
    assert_eq!(
        filter(&node, &format!("name =~ /^{}/i", prefix.to_uppercase())).0,
        want as i64
    );
    // Numbers: < <= > >=.
    let cpu: Vec<i64> = pods
        .iter()
        .filter_map(|p| p["cpu_request_millicores"].as_i64())
        .collect();
    let mid = cpu[cpu.len() / 2];
    for (op, f) in [
        ("<", (|a: i64, b: i64| a < b) as fn(i64, i64) -> bool),
        ("<=", |a, b| a <= b),
        (">", |a, b| a > b),
        (">=", |a, b| a >= b),
    ] {
        let want = cpu.iter().filter(|c| f(**c, mid)).count() as i64;
        assert_eq!(
            filter(&node, &format!("cpu_request_millicores {op} {mid}")).0,
            want,
            "{op}"
        );
    }
    // Booleans, lists, NULL.
    let ready = pods.iter().filter(|p| p["ready"] == true).count() as i64;
    assert_eq!(filter(&node, "ready = true").0, ready);
    let two: Vec<&str> = pods
        .iter()
        .take(2)
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        filter(&node, &format!("name = [\"{}\", \"{}\"]", two[0], two[1])).0,
        2
    );
    assert_eq!(
        filter(&node, &format!("name != [\"{}\", \"{}\"]", two[0], two[1])).0,
        total as i64 - 2
    );
    let no_node = pods
        .iter()
        .filter(|p| p["container_node_id"].is_null())
        .count() as i64;
    assert_eq!(filter(&node, "container_node_id = NULL").0, no_node);
    assert_eq!(
        filter(&node, "container_node_id != nil").0,
        total as i64 - no_node
    );
    // Repeated filters AND; an `or ` prefix ORs.
    let page = node.get_json(&format!(
        "/api/container_groups?filter[]={}&filter[]={}",
        enc(&format!("name = \"{}\"", two[0])),
        enc(&format!("or name = \"{}\"", two[1]))
    ));
    assert_eq!(page["subquery_count"], 2, "{page}");
    assert_eq!(page["count"].as_u64(), Some(total as u64));
    let page = node.get_json(&format!(
        "/api/container_groups?filter[]={}&filter[]={}",
        enc(&format!("name = \"{}\"", two[0])),
        enc(&format!("name = \"{}\"", two[1]))
    ));
    assert_eq!(page["subquery_count"], 0);
    // One association hop.
    let node_name = sample["node_name"].as_str().expect("node_name");
    let want = pods.iter().filter(|p| p["node_name"] == node_name).count() as i64;
    assert_eq!(
        filter(&node, &format!("container_node.name = \"{node_name}\"")).0,
        want
    );
    // Labels.
    let app = sample["labels"]["app"].as_str().expect("an app label");
    let want: BTreeSet<String> = pods
        .iter()
        .filter(|p| p["labels"]["app"] == app)
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let (n, rows) = filter(&node, &format!("labels.app = \"{app}\""));
    assert_eq!((n as usize, names(&rows)), (want.len(), want.clone()));
    assert_eq!(
        filter(&node, &format!("labels.app != \"{app}\"")).0,
        (total - want.len()) as i64
    );
    assert_eq!(filter(&node, "labels.no-such-label = NULL").0, total as i64);
    assert_eq!(
        count(
            &node,
            &format!("filter[]={}", enc(&format!("labels.app =~ /^{app}$/")))
        ),
        want.len() as i64
    );
    // Annotations: stored beside labels, filtered the same way (keys with dots and
    // slashes), and the object copies kubectl writes are left out.
    let container = sample["annotations"]["kubectl.kubernetes.io/default-container"]
        .as_str()
        .unwrap_or_else(|| panic!("no default-container annotation: {sample}"));
    let want: BTreeSet<String> = pods
        .iter()
        .filter(|p| p["annotations"]["kubectl.kubernetes.io/default-container"] == container)
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    assert!(!want.is_empty() && want.len() < total, "{container}");
    let (n, rows) = filter(
        &node,
        &format!("annotations.kubectl.kubernetes.io/default-container = \"{container}\""),
    );
    assert_eq!((n as usize, names(&rows)), (want.len(), want));
    assert_eq!(
        filter(
            &node,
            "annotations.kubectl.kubernetes.io/default-container = NULL"
        )
        .0,
        0
    );
    let nodes = node.get_json("/api/container_nodes?expand=resources&attributes=annotations");
    let first = &nodes["resources"][0]["annotations"];
    assert_eq!(first["node.alpha.kubernetes.io/ttl"], "0", "{nodes}");
    let page = node.get_json(&format!(
        "/api/container_replicators?filter[]={}&attributes=kind",
        enc("annotations.deployment.kubernetes.io/revision = \"1\"")
    ));
    assert!(page["subquery_count"].as_u64() > Some(0), "{page}");
    assert_eq!(
        node.admin_request(
            "GET",
            &format!("/api/containers?filter[]={}", enc("annotations.x = 1")),
            None
        )
        .0,
        400
    );

    // Counts follow the cluster: a filter's counts asked twice (kept by change stamp on
    // PostgreSQL), then a pod is deleted in the cluster and the same query's counts drop.
    let query = format!("filter[]={}", enc("name != \"no-such-pod\""));
    let counts = |node: &common::Node| {
        let page = node.get_json(&format!("/api/container_groups?{query}"));
        (page["count"].as_i64(), page["subquery_count"].as_i64())
    };
    let before = (Some(total as i64), Some(total as i64));
    assert_eq!(counts(&node), before);
    assert_eq!(counts(&node), before);
    let changed = sim.admin("/_sim/churn", json!({"delete": 1}));
    assert_eq!(
        changed["deleted"].as_array().map(Vec::len),
        Some(1),
        "{changed}"
    );
    let after = (Some(total as i64 - 1), Some(total as i64 - 1));
    assert!(
        wait_until(Duration::from_secs(30), || counts(&node) == after),
        "the counts stayed at {:?}",
        counts(&node)
    );
});

both_backends!(subcollections_and_rbac_inside_the_sql, |db: TestDb| {
    let (_sim, node, config, provider_id, total) = setup(&db);
    let pods = all_pods(&node);
    // Subcollections.
    let node_id = pods[0]["container_node_id"]
        .as_str()
        .expect("node id")
        .to_string();
    let want = pods
        .iter()
        .filter(|p| p["container_node_id"] == node_id.as_str())
        .count();
    let page = node.get_json(&format!("/api/container_nodes/{node_id}/container_groups"));
    assert_eq!(page["count"].as_u64(), Some(want as u64), "{page}");
    let page = node.get_json(&format!(
        "/api/providers/{provider_id}/container_groups?limit=1"
    ));
    assert_eq!(page["count"].as_u64(), Some(total as u64));
    let pod_id = pods[0]["id"].as_str().expect("id").to_string();
    let page = node.get_json(&format!(
        "/api/container_groups/{pod_id}/containers?expand=resources"
    ));
    assert!(page["count"].as_u64().is_some_and(|c| c >= 1), "{page}");
    assert_eq!(
        node.get(&format!("/api/container_groups/{pod_id}/nothing"))
            .0,
        404
    );
    // Subcollections inline: each pod with its containers, in one extra statement.
    let page = node.get_json("/api/container_groups?expand=containers&limit=5&sort_by=name");
    for pod in page["resources"].as_array().cloned().unwrap_or_default() {
        let id = pod["id"].as_str().expect("id");
        let own = node.get_json(&format!("/api/container_groups/{id}/containers"));
        let inline = pod["containers"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            inline.len() as u64,
            own["count"].as_u64().unwrap_or(0),
            "{pod}"
        );
        assert!(
            inline
                .iter()
                .all(|c| c["container_group_id"] == id && c["href"].is_string()),
            "{pod}"
        );
    }

    // A tenant below the root, a group in it, a user in the group.
    let lib = common::lib_db(&db);
    let (tenant_id, namespace) = lib
        .with_conn(|c| {
            use diesel::prelude::*;
            use steward::db::schema::{tenants, user_groups, user_roles};
            let root: i64 = tenants::table
                .filter(tenants::parent_id.is_null())
                .select(tenants::id)
                .first(c)?;
            let now = chrono::Utc::now().naive_utc();
            let tenant: i64 = diesel::insert_into(tenants::table)
                .values((
                    tenants::name.eq("east"),
                    tenants::parent_id.eq(root),
                    tenants::created_on.eq(now),
                ))
                .returning(tenants::id)
                .get_result(c)?;
            let viewer: i64 = user_roles::table
                .filter(user_roles::name.eq("viewer"))
                .select(user_roles::id)
                .first(c)?;
            diesel::insert_into(user_groups::table)
                .values((
                    user_groups::name.eq("east-viewers"),
                    user_groups::role_id.eq(viewer),
                    user_groups::tenant_id.eq(tenant),
                    user_groups::filters.eq("{}"),
                    user_groups::read_only.eq(false),
                    user_groups::created_on.eq(now),
                ))
                .execute(c)?;
            Ok((tenant, String::new()))
        })
        .expect("tenant");
    let _ = namespace;
    let out = steward_with_input(
        &[
            "user",
            "add",
            "erin",
            "--group",
            "east-viewers",
            "--password-stdin",
        ],
        &config.cli_env(),
        "erin-password-1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let erin = basic_auth("erin", "erin-password-1");
    let (_, token) = node.request("GET", "/api/auth", None, &[("Authorization", &erin)]);
    let token = token["auth_token"].as_str().expect("token").to_string();
    let as_erin = |path: &str| node.request("GET", path, None, &[("X-Auth-Token", &token)]);

    // The root tenant's provider is invisible: not listed, not counted, not reachable.
    let (status, page) = as_erin("/api/providers");
    assert_eq!(status, 200);
    assert_eq!(page["count"], 0, "{page}");
    for collection in [
        "container_groups",
        "container_nodes",
        "containers",
        "container_projects",
        "container_images",
    ] {
        let (status, page) = as_erin(&format!("/api/{collection}"));
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["count"], 0, "{collection}: {page}");
    }
    for path in [
        format!("/api/providers/{provider_id}"),
        format!("/api/providers/{provider_id}/refreshes"),
        format!("/api/providers/{provider_id}/container_groups"),
        format!("/api/container_groups/{pod_id}"),
        format!("/api/container_groups/{pod_id}/containers"),
        format!("/api/container_nodes/{node_id}/metrics"),
    ] {
        let (status, body) = as_erin(&path);
        assert_eq!(status, 404, "{path}: {body}");
    }
    // Given to the tenant, it is all there.
    lib.with_conn(|c| {
        use diesel::prelude::*;
        use steward::db::schema::providers;
        diesel::update(providers::table)
            .set(providers::tenant_id.eq(Some(tenant_id)))
            .execute(c)?;
        Ok(())
    })
    .expect("move provider");
    let (_, page) = as_erin("/api/container_groups?limit=1");
    assert_eq!(page["count"].as_u64(), Some(total as u64), "{page}");
    assert_eq!(as_erin(&format!("/api/container_groups/{pod_id}")).0, 200);
    assert_eq!(as_erin(&format!("/api/providers/{provider_id}")).0, 200);

    // A group limited to one project sees that namespace's objects only.
    let ns = pods[0]["namespace"]
        .as_str()
        .expect("namespace")
        .to_string();
    let want = pods
        .iter()
        .filter(|p| p["namespace"] == ns.as_str())
        .count();
    lib.with_conn(|c| {
        use diesel::prelude::*;
        use steward::db::schema::user_groups;
        diesel::update(user_groups::table.filter(user_groups::name.eq("east-viewers")))
            .set(user_groups::filters.eq(json!({"projects": [ns]}).to_string()))
            .execute(c)?;
        Ok(())
    })
    .expect("filter");
    // A token's holder is cached for a few seconds: log in again to see the change now.
    let (_, fresh) = node.request("GET", "/api/auth", None, &[("Authorization", &erin)]);
    let token = fresh["auth_token"].as_str().expect("token").to_string();
    let as_erin = |path: &str| node.request("GET", path, None, &[("X-Auth-Token", &token)]);
    let (_, page) = as_erin("/api/container_groups?expand=resources&limit=1000");
    assert_eq!(page["count"].as_u64(), Some(want as u64), "{page}");
    assert!(
        page["resources"]
            .as_array()
            .is_some_and(|r| r.iter().all(|p| p["namespace"] == ns.as_str()))
    );
    let (_, page) = as_erin("/api/container_projects?expand=resources");
    assert_eq!(page["count"], 1, "{page}");
    let other = pods
        .iter()
        .find(|p| p["namespace"] != ns.as_str())
        .expect("another namespace");
    let other_id = other["id"].as_str().expect("id");
    assert_eq!(as_erin(&format!("/api/container_groups/{other_id}")).0, 404);
});

both_backends!(tags_from_labels_by_hand_by_tag_and_in_rbac, |db: TestDb| {
    let (_sim, node, config, _provider, total) = setup(&db);
    let pods = all_pods(&node);
    let app = pods[0]["labels"]["app"]
        .as_str()
        .expect("app label")
        .to_string();
    let with_app = pods
        .iter()
        .filter(|p| p["labels"]["app"] == app.as_str())
        .count();
    // A label mapped to a category: its values become tags of the pods at once.
    let (status, mapping) = node.post_json(
        "/api/label_tag_mappings",
        &json!({"label_name": "app", "collection": "container_groups", "category": "kubernetes_app"}),
    );
    assert_eq!(status, 201, "{mapping}");
    let page = node.get_json(&format!(
        "/api/container_groups?by_tag=/kubernetes_app/{app}"
    ));
    assert_eq!(page["count"].as_u64(), Some(with_app as u64), "{page}");
    let tags = node.get_json("/api/tags?expand=resources");
    assert!(
        tags.to_string()
            .contains(&format!("/managed/kubernetes_app/{app}")),
        "{tags}"
    );
    let (status, body) = node.post_json(
        "/api/label_tag_mappings",
        &json!({"label_name": "app", "collection": "nothing", "category": "x"}),
    );
    assert_eq!(status, 400, "{body}");

    // Tags by hand.
    assert_eq!(
        node.post_json(
            "/api/categories",
            &json!({"name": "env", "single_value": true})
        )
        .0,
        201
    );
    assert_eq!(
        node.post_json("/api/tags", &json!({"category": "env", "name": "prod"}))
            .0,
        201
    );
    assert_eq!(
        node.post_json("/api/tags", &json!({"category": "env", "name": "test"}))
            .0,
        201
    );
    assert_eq!(
        node.post_json("/api/tags", &json!({"category": "env", "name": "prod"}))
            .0,
        409
    );
    let pod_id = pods[0]["id"].as_str().expect("id").to_string();
    let other_id = pods[1]["id"].as_str().expect("id").to_string();
    let (status, reply) = node.post_json(
        &format!("/api/container_groups/{pod_id}/tags"),
        &json!({"action": "assign", "resources": [{"name": "/env/test"}, {"category": "env", "name": "prod"}, {"name": "/env/nope"}]}),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["results"][0]["success"], true, "{reply}");
    assert_eq!(reply["results"][1]["success"], true, "{reply}");
    assert_eq!(reply["results"][2]["success"], false, "{reply}");
    // A single-value category keeps the last assigned tag only.
    let own = node.get_json(&format!(
        "/api/container_groups/{pod_id}/tags?expand=resources"
    ));
    let names: Vec<String> = own["resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(names.contains(&"/managed/env/prod".to_string()), "{own}");
    assert!(!names.contains(&"/managed/env/test".to_string()), "{own}");
    assert_eq!(
        node.get_json("/api/container_groups?by_tag=/env/prod")["count"],
        1
    );
    assert_eq!(
        node.get_json(&format!(
            "/api/container_groups?by_tag=/env/prod,/kubernetes_app/{app}"
        ))["count"],
        1
    );
    assert_eq!(node.get("/api/container_groups?by_tag=env").0, 400);

    // A group limited by a tag sees the tagged pod only.
    let lib = common::lib_db(&db);
    lib.with_conn(|c| {
        use diesel::prelude::*;
        use steward::db::schema::{tenants, user_groups, user_roles};
        let root: i64 = tenants::table
            .filter(tenants::parent_id.is_null())
            .select(tenants::id)
            .first(c)?;
        let viewer: i64 = user_roles::table
            .filter(user_roles::name.eq("viewer"))
            .select(user_roles::id)
            .first(c)?;
        diesel::insert_into(user_groups::table)
            .values((
                user_groups::name.eq("prod-viewers"),
                user_groups::role_id.eq(viewer),
                user_groups::tenant_id.eq(root),
                user_groups::filters.eq(json!({"tags": [["/env/prod"]]}).to_string()),
                user_groups::read_only.eq(false),
                user_groups::created_on.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(c)?;
        Ok(())
    })
    .expect("group");
    let out = steward_with_input(
        &[
            "user",
            "add",
            "pat",
            "--group",
            "prod-viewers",
            "--password-stdin",
        ],
        &config.cli_env(),
        "pat-password-1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pat = basic_auth("pat", "pat-password-1");
    let (_, page) = node.request(
        "GET",
        "/api/container_groups",
        None,
        &[("Authorization", &pat)],
    );
    assert_eq!(page["count"], 1, "{page}");
    let (status, _) = node.request(
        "GET",
        &format!("/api/container_groups/{other_id}"),
        None,
        &[("Authorization", &pat)],
    );
    assert_eq!(status, 404);
    let (status, _) = node.request(
        "GET",
        &format!("/api/container_groups/{pod_id}"),
        None,
        &[("Authorization", &pat)],
    );
    assert_eq!(status, 200);
    // Viewers cannot tag.
    let (status, _) = node.request(
        "POST",
        &format!("/api/container_groups/{pod_id}/tags"),
        Some(&json!({"action": "unassign", "resources": [{"name": "/env/prod"}]})),
        &[("Authorization", &pat)],
    );
    assert_eq!(status, 403);

    // Unassigning and removing the mapping take the tags away.
    let (status, reply) = node.post_json(
        &format!("/api/container_groups/{pod_id}/tags"),
        &json!({"action": "unassign", "resources": [{"name": "/env/prod"}]}),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        node.get_json("/api/container_groups?by_tag=/env/prod")["count"],
        0
    );
    let mapping_id = mapping["id"].as_str().expect("id");
    assert_eq!(
        node.delete(&format!("/api/label_tag_mappings/{mapping_id}"))
            .0,
        204
    );
    let page = node.get_json(&format!(
        "/api/container_groups?by_tag=/kubernetes_app/{app}"
    ));
    assert_eq!(page["count"], 0, "{page}");
    let _ = total;
});

/// A tool from scripts/test-deps' virtualenv `venv`, or PATH.
fn tool(venv: &str, name: &str) -> String {
    let tools = std::env::var("STEWARD_TEST_TOOLS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/steward-test-tools",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let path = format!("{tools}/{venv}/bin/{name}");
    if std::path::Path::new(&path).exists() {
        return path;
    }
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh");
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !found.is_empty(),
        "{name} is not installed: run scripts/test (the README's test command), which installs it"
    );
    found
}

/// `ansible-inventory` (ansible-core).
fn ansible_inventory() -> String {
    tool("ansible", "ansible-inventory")
}

both_backends!(
    ansible_inventory_lists_what_the_caller_may_see,
    |db: TestDb| {
        let (_sim, node, _config, _provider, _total) = setup(&db);
        let pods = all_pods(&node);
        let running: Vec<&Value> = pods.iter().filter(|p| p["phase"] == "Running").collect();
        let token = node.admin_token();
        let script = format!(
            "{}/contrib/steward_inventory.py",
            env!("CARGO_MANIFEST_DIR")
        );
        let run = |args: &[&str]| {
            std::process::Command::new(ansible_inventory())
                .args(["-i", &script])
                .args(args)
                .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
                .env("ANSIBLE_LOCAL_TEMP", db.dir.path().join("ansible-tmp"))
                .env("ANSIBLE_HOME", db.dir.path().join("ansible-home"))
                .env("STEWARD_URL", node.url())
                .env("STEWARD_TOKEN", &token)
                .output()
                .expect("run ansible-inventory")
        };
        let out = run(&["--list"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
        let hostvars = listed["_meta"]["hostvars"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(hostvars.len(), running.len(), "running pods only");
        let pod = running[0];
        let host = format!(
            "{}.{}.sim",
            pod["name"].as_str().unwrap_or_default(),
            pod["namespace"].as_str().unwrap_or_default()
        );
        assert_eq!(
            hostvars[&host]["ansible_host"], pod["pod_ip"],
            "{}",
            hostvars[&host]
        );
        assert_eq!(hostvars[&host]["labels"], pod["labels"]);
        let project = format!(
            "project_{}",
            pod["namespace"]
                .as_str()
                .unwrap_or_default()
                .replace('-', "_")
        );
        assert!(
            listed[&project]["hosts"]
                .as_array()
                .is_some_and(|h| h.contains(&json!(host))),
            "{project} in {}",
            common::cut(&listed.to_string(), 2000)
        );
        assert!(
            listed["provider_sim"]["hosts"]
                .as_array()
                .is_some_and(|h| h.len() == running.len())
        );
        let out = run(&["--host", &host]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(vars["namespace"], pod["namespace"]);
        // RBAC applies: a user of another tenant gets an empty inventory.
        let (status, tenant) = node.post_json("/api/tenants", &json!({"name": "elsewhere"}));
        assert_eq!(status, 201, "{tenant}");
        let (status, group) = node.post_json(
            "/api/groups",
            &json!({"name": "elsewhere", "role": "viewer", "tenant_id": tenant["id"]}),
        );
        assert_eq!(status, 201, "{group}");
        let (status, _) = node.post_json(
            "/api/users",
            &json!({"userid": "olga", "password": "olga-password-1", "groups": ["elsewhere"]}),
        );
        assert_eq!(status, 201);
        let olga = basic_auth("olga", "olga-password-1");
        let (status, inv) = node.request(
            "GET",
            "/api/ansible/inventory",
            None,
            &[("Authorization", &olga)],
        );
        assert_eq!(status, 200);
        assert_eq!(
            inv["_meta"]["hostvars"].as_object().map(|h| h.len()),
            Some(0),
            "{inv}"
        );
        // Bad credentials make the script fail, and ansible-inventory with it.
        let out = std::process::Command::new(ansible_inventory())
            .args(["-i", &script, "--list"])
            .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
            .env("ANSIBLE_LOCAL_TEMP", db.dir.path().join("ansible-tmp"))
            .env("ANSIBLE_HOME", db.dir.path().join("ansible-home"))
            .env("STEWARD_URL", node.url())
            .env("STEWARD_TOKEN", "forged")
            .output()
            .expect("run");
        assert!(!out.status.success());
    }
);

both_backends!(protection_and_bulk_actions, |db: TestDb| {
    let (sim, node, config, provider, _total) = setup(&db);
    let mut ids = vec![provider.clone()];
    for i in 1..4 {
        let (status, reply) = node.post_json(
            "/api/providers",
            &json!({"name": format!("extra{i}"), "api_url": sim.url, "allow_insecure_http": true}),
        );
        assert_eq!(status, 201, "{reply}");
        ids.push(reply["id"].as_str().expect("id").to_string());
    }
    // A protected provider is not removed: not by DELETE, an action, the CLI or a bulk.
    let (status, reply) = node.post_json(
        &format!("/api/providers/{provider}"),
        &json!({"action": "protect"}),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        node.get_json(&format!("/api/providers/{provider}"))["protected"],
        true
    );
    let (status, reply) = node.delete(&format!("/api/providers/{provider}"));
    assert_eq!(status, 409, "{reply}");
    assert!(reply.to_string().contains("protected"), "{reply}");
    let (status, _) = node.post_json(
        &format!("/api/providers/{provider}"),
        &json!({"action": "delete"}),
    );
    assert_eq!(status, 409);
    let out = common::steward(
        &["provider", "remove", &provider, "--yes"],
        &config.cli_env(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("protected"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Filters see the flag.
    let page = node.get_json("/api/providers?expand=resources");
    assert!(page.to_string().contains("\"protected\":true"), "{page}");
    // Bulk: refresh answers a task per provider; deleting more than the threshold
    // (3) needs confirm.
    let resources: Vec<Value> = ids
        .iter()
        .map(|id| json!({"href": format!("{}/api/providers/{id}", node.url())}))
        .collect();
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"action": "refresh", "resources": resources}),
    );
    assert_eq!(status, 200, "{reply}");
    let results = reply["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 4);
    assert!(
        results
            .iter()
            .all(|r| r["success"] == true && r["task_href"].is_string()),
        "{reply}"
    );
    // The task follows the refresh to its end.
    let task_path = results[1]["task_href"]
        .as_str()
        .map(|h| h.trim_start_matches(&node.url()).to_string())
        .expect("task href");
    let task = node.get_json(&task_path);
    assert!(
        ["Queued", "Active", "Finished"].contains(&task["state"].as_str().unwrap_or("")),
        "{task}"
    );
    assert!(
        wait_until(
            Duration::from_secs(60),
            || node.get_json(&task_path)["state"] == "Finished"
        ),
        "{}",
        node.get_json(&task_path)
    );
    assert_eq!(node.get_json(&task_path)["status"], "Ok");
    assert!(
        node.get_json("/api/tasks?expand=resources")["resources"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"action": "delete", "resources": resources}),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains("confirm"), "{reply}");
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"action": "delete", "resources": resources, "confirm": true}),
    );
    assert_eq!(status, 200, "{reply}");
    let results = reply["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        results.iter().filter(|r| r["success"] == true).count(),
        3,
        "{reply}"
    );
    assert_eq!(
        results[0]["success"], false,
        "the protected one stays: {reply}"
    );
    assert_eq!(node.get_json("/api/providers")["count"], 1);
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"action": "explode", "resources": [{"id": provider}]}),
    );
    assert_eq!(status, 400, "{reply}");
    // Unprotected, it goes.
    node.post_json(
        &format!("/api/providers/{provider}"),
        &json!({"action": "unprotect"}),
    );
    assert_eq!(node.delete(&format!("/api/providers/{provider}")).0, 204);
});

both_backends!(
    a_provider_is_edited_without_losing_its_inventory,
    |db: TestDb| {
        let (sim, node, config, provider, total) = setup(&db);
        let path = format!("/api/providers/{provider}");
        let (status, body) = node.request(
            "PATCH",
            &path,
            Some(&json!({"api_url": "not a url"})),
            &[("X-Auth-Token", &node.admin_token())],
        );
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains("api_url"), "{body}");
        let (status, body) = node.request(
            "PATCH",
            &path,
            Some(&json!({"colour": "red"})),
            &[("X-Auth-Token", &node.admin_token())],
        );
        assert_eq!(status, 400, "{body}");
        // Pointed somewhere dead: the refresh fails, the inventory stays.
        let (status, body) = node.admin_request(
            "PATCH",
            &path,
            Some(&json!({"api_url": "http://127.0.0.1:9", "token": "new-token"})),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["api_url"], "http://127.0.0.1:9");
        assert_eq!(body["has_credentials"], true);
        assert!(!body.to_string().contains("new-token"), "{body}");
        assert!(
            wait_until(Duration::from_secs(60), || node.get_json(&path)["status"]
                == "error"),
            "{}",
            node.get_json(&path)
        );
        assert_eq!(all_pods(&node).len(), total);
        // Back to the cluster with the CLI, and renamed.
        let out = common::steward(
            &[
                "provider",
                "update",
                &provider,
                "--api-url",
                &sim.url,
                "--name",
                "renamed",
            ],
            &config.cli_env(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            wait_until(Duration::from_secs(60), || {
                let p = node.get_json(&path);
                p["status"] == "ok" && p["name"] == "renamed"
            }),
            "{}",
            node.get_json(&path)
        );
        assert_eq!(all_pods(&node).len(), total);
    }
);

both_backends!(
    schemathesis_finds_no_server_error_and_no_undocumented_answer,
    |db: TestDb| {
        let (_sim, node, _config, _provider, _total) = setup(&db);
        let token = node.admin_token();
        let out = std::process::Command::new(tool("schemathesis", "st"))
            .args([
                "run",
                &format!("{}/api/openapi.json", node.url()),
                "-H",
                &format!("X-Auth-Token: {token}"),
                "--exclude-path",
                "/api/auth",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance",
                "--max-examples",
                "6",
                "--seed",
                "7",
            ])
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(db.dir.path())
            .output()
            .expect("run schemathesis");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis found failures:\n{}\n{}",
            common::cut(&text, 20_000),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("generated"), "{text}");
    }
);
