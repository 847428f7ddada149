//! Authentication and authorization through the real surfaces: every route of the
//! route table refused without credentials (except the public list), the first
//! admin and its password file, tokens (issue, renew, expire, revoke), lockout and
//! rate limiting, features (403), the audit trail, error statuses, and the
//! `steward user` CLI — on both databases.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{NodeConfig, TestDb, basic_auth, steward, steward_with_input};
use serde_json::{Value, json};

/// A concrete path for a route pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{collection}", "providers")
        .replace("{subcollection}", "container_groups")
        .replace("{id}", "1")
}

both_backends!(
    every_route_needs_a_login_except_the_public_list,
    |db: TestDb| {
        let node = NodeConfig::new(&db, "walk").start();
        let table = steward::web::route_table();
        assert!(
            table.len() > 30,
            "the route table has {} routes",
            table.len()
        );
        let mut public = Vec::new();
        for spec in &table {
            let path = concrete(&spec.path);
            let body = json!({});
            let method = spec.method.as_str();
            let with_body = matches!(method, "POST" | "PUT" | "PATCH").then_some(&body);
            let (status, answer) = node.request(method, &path, with_body, &[]);
            if spec.access == steward::web::Access::Public {
                assert_ne!(
                    status, 401,
                    "{method} {path} is public but answered 401: {answer}"
                );
                public.push(spec.path.clone());
                continue;
            }
            assert_eq!(status, 401, "{method} {path} without credentials: {answer}");
            assert_eq!(
                answer["error"]["kind"], "unauthorized",
                "{method} {path}: {answer}"
            );
            // A forged token or a wrong password gets no further.
            let (status, _) = node.request(method, &path, with_body, &[("X-Auth-Token", "forged")]);
            assert_eq!(status, 401, "{method} {path} with a forged token");
        }
        public.sort();
        assert_eq!(
            public,
            [
                "/",
                "/api/ping",
                "/api/product_info",
                "/console",
                "/console/",
                "/console/assets/{file}",
                "/metrics",
                "/ping"
            ]
        );
        // The live feed's own listener enforces the route table's access for GET /ws
        // too: without credentials, or with forged ones, no socket.
        let listener = node.ws_url().replacen("ws://", "http://", 1);
        for headers in [&[][..], &[("X-Auth-Token", "forged")][..]] {
            let (status, answer) = common::http_request("GET", &listener, None, headers);
            assert_eq!(status, 401, "GET {listener} {headers:?}: {answer}");
            assert_eq!(answer["error"]["kind"], "unauthorized", "{answer}");
        }
        // Paths that are not routes say nothing to strangers either.
        assert_eq!(node.request("GET", "/api/nothing_here", None, &[]).0, 401);
        assert_eq!(node.request("GET", "/etc/passwd", None, &[]).0, 401);
        // With credentials the same walk never meets a 401, 405 or 5xx.
        for spec in &table {
            let path = concrete(&spec.path);
            if spec.method.as_str() != "GET" {
                continue;
            }
            let (status, answer) = node.admin_request("GET", &path, None);
            assert!(
                status < 500 && status != 401 && status != 405,
                "GET {path} as admin: {status} {answer}"
            );
        }
    }
);

both_backends!(
    the_first_start_creates_admin_with_a_random_password,
    |db: TestDb| {
        let config = NodeConfig::new(&db, "first");
        let mut node = config.start();
        let file = config.data_dir.join("admin-password");
        let mode = std::fs::metadata(&file)
            .expect("password file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        let password = node.admin_password();
        assert!(password.len() >= 20, "{password}");
        assert_eq!(
            node.count_log(&password),
            1,
            "the password is logged exactly once"
        );
        let (status, me) = node.request(
            "GET",
            "/api",
            None,
            &[("Authorization", &basic_auth("admin", &password))],
        );
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["identity"]["userid"], "admin");
        assert_eq!(me["identity"]["role"], "admin");
        assert!(
            me["collections"].as_array().is_some_and(|c| c.len() > 10),
            "{me}"
        );
        assert!(
            me["collections"][0]["href"]
                .as_str()
                .is_some_and(|h| h.starts_with(&node.url()))
        );
        // No default password: "admin"/"smartvm" and friends are refused.
        for guess in ["smartvm", "admin", "password", "changeme"] {
            let (status, _) = node.request(
                "GET",
                "/api",
                None,
                &[("Authorization", &basic_auth("admin", guess))],
            );
            assert_eq!(status, 401, "{guess}");
        }
        node.terminate(Duration::from_secs(20));
        // A restart does not create another admin or write another password.
        let again = NodeConfig::new(&db, "second").start();
        assert!(!db.data_dir("second").join("admin-password").exists());
        assert_eq!(again.count_log("created the region's first user"), 0);
        let users = steward(&["user", "list", "--json"], &config.cli_env());
        assert!(
            users.status.success(),
            "{}",
            String::from_utf8_lossy(&users.stderr)
        );
        let users: Value = serde_json::from_slice(&users.stdout).expect("json");
        assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
        assert!(
            !users.to_string().contains("argon2"),
            "hashes never leave: {users}"
        );
    }
);

both_backends!(
    tokens_are_issued_renewed_expired_and_revoked,
    |db: TestDb| {
        let node = NodeConfig::new(&db, "tokens")
            .env("STEWARD__API__TOKEN_TTL", "3s")
            .start();
        let auth = node.admin_auth();
        let (status, issued) = node.request("GET", "/api/auth", None, &[("Authorization", &auth)]);
        assert_eq!(status, 200, "{issued}");
        assert_eq!(issued["token_ttl"], 3);
        assert!(
            issued["expires_on"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{issued}"
        );
        let token = issued["auth_token"].as_str().expect("token").to_string();
        // Only the token's hash is stored.
        let lib = common::lib_db(&db);
        let stored: Vec<String> = lib
            .with_conn(|c| {
                use diesel::prelude::*;
                use steward::db::schema::auth_tokens;
                Ok(auth_tokens::table.select(auth_tokens::token_hash).load(c)?)
            })
            .expect("tokens");
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0], token);
        // Each use renews it: used every 2 s it outlives its 3 s TTL.
        for _ in 0..3 {
            let (status, body) =
                node.request("GET", "/api/servers", None, &[("X-Auth-Token", &token)]);
            assert_eq!(status, 200, "{body}");
            std::thread::sleep(Duration::from_secs(2));
        }
        // Unused for longer than the TTL it is gone.
        std::thread::sleep(Duration::from_secs(2));
        let (status, body) = node.request("GET", "/api/servers", None, &[("X-Auth-Token", &token)]);
        assert_eq!(status, 401, "{body}");
        // DELETE /api/auth revokes at once.
        let (_, issued) = node.request("GET", "/api/auth", None, &[("Authorization", &auth)]);
        let token = issued["auth_token"].as_str().expect("token").to_string();
        let (status, _) = node.request("DELETE", "/api/auth", None, &[("X-Auth-Token", &token)]);
        assert_eq!(status, 204);
        let (status, _) = node.request("GET", "/api", None, &[("X-Auth-Token", &token)]);
        assert_eq!(status, 401);
    }
);

both_backends!(
    failed_logins_lock_the_account_and_throttle_the_address,
    |db: TestDb| {
        let node = NodeConfig::new(&db, "lockout")
            .env("STEWARD__API__LOCKOUT", "3s")
            .env("STEWARD__API__LOGIN_RATE_LIMIT", "6")
            .env("STEWARD__API__LOGIN_RATE_WINDOW", "4s")
            .start();
        let good = node.admin_auth();
        // A token taken before the failures keeps working through the throttle.
        node.admin_token();
        let bad = basic_auth("admin", "not-the-password");
        for _ in 0..2 {
            let (status, body) = node.request("GET", "/api", None, &[("Authorization", &bad)]);
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["error"]["message"], "wrong user id or password");
        }
        let (status, body) = node.request("GET", "/api", None, &[("Authorization", &bad)]);
        assert_eq!(status, 401);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("locked")),
            "{body}"
        );
        // Locked: even the right password is refused, saying why.
        let (status, body) = node.request("GET", "/api", None, &[("Authorization", &good)]);
        assert_eq!(status, 401, "{body}");
        assert!(body.to_string().contains("locked"), "{body}");
        std::thread::sleep(Duration::from_secs(5));
        let (status, body) = node.request("GET", "/api", None, &[("Authorization", &good)]);
        assert_eq!(status, 200, "after the lockout: {body}");
        // Many failures from one address: 429 with Retry-After, for any user id.
        let mut last = 0;
        for i in 0..8 {
            let who = basic_auth(&format!("nobody{i}"), "wrong-password");
            last = node
                .request("GET", "/api", None, &[("Authorization", &who)])
                .0;
        }
        assert_eq!(last, 429);
        let failed_logins = node
            .admin_request("GET", "/api/audit_events?limit=1000&expand=resources", None)
            .1;
        let failures = failed_logins["resources"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter(|e| e["action"] == "login" && e["outcome"] == "failure")
                    .count()
            })
            .unwrap_or(0);
        assert!(failures >= 9, "failed logins are audited: {failed_logins}");
    }
);

both_backends!(features_decide_and_writes_are_audited, |db: TestDb| {
    let config = NodeConfig::new(&db, "rbac");
    let node = config.start();
    let out = steward_with_input(
        &[
            "user",
            "add",
            "vera",
            "--group",
            "viewer",
            "--password-stdin",
        ],
        &config.cli_env(),
        "viewer-password-1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vera = basic_auth("vera", "viewer-password-1");
    let as_vera = |method: &str, path: &str, body: Option<&Value>| {
        node.request(method, path, body, &[("Authorization", &vera)])
    };
    assert_eq!(as_vera("GET", "/api/providers", None).0, 200);
    assert_eq!(as_vera("GET", "/api/servers", None).0, 200);
    let (status, body) = as_vera(
        "POST",
        "/api/providers",
        Some(&json!({"name": "x", "api_url": "http://127.0.0.1:1"})),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["kind"], "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("provider_manage")),
        "{body}"
    );
    let (status, body) = as_vera(
        "POST",
        "/api/queue/messages",
        Some(&json!({"command": "diag.noop"})),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("queue_put"), "{body}");
    assert_eq!(as_vera("GET", "/api/users", None).0, 403);
    assert_eq!(as_vera("GET", "/api/audit_events", None).0, 403);
    // X-MIQ-Group may only pick a group the user is in.
    let (status, _) = node.request(
        "GET",
        "/api",
        None,
        &[("Authorization", &vera), ("X-MIQ-Group", "admin")],
    );
    assert_eq!(status, 403);

    // Writes are audited, with who, what, where from and how it ended.
    let (status, body) = node.post_json(
        "/api/users",
        &json!({"userid": "otto", "password": "operator-pw-1", "groups": ["operator"]}),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body.get("password_hash").is_none());
    let (status, _) = node.post_json(
        "/api/users",
        &json!({"userid": "otto", "password": "operator-pw-1", "groups": ["operator"]}),
    );
    assert_eq!(status, 409);
    let (status, body) = node.post_json(
        "/api/users",
        &json!({"userid": "bad user", "password": "x", "groups": []}),
    );
    assert_eq!(status, 400, "{body}");
    let audit = node.get_json("/api/audit_events?expand=resources");
    let entries = audit["resources"].as_array().cloned().unwrap_or_default();
    let created = entries
        .iter()
        .find(|e| e["action"] == "POST /api/users" && e["outcome"] == "success")
        .unwrap_or_else(|| panic!("no audit of the user creation: {audit}"));
    assert_eq!(created["userid"], "admin");
    assert_eq!(created["status"], 201);
    assert_eq!(created["source"], "127.0.0.1");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "POST /api/users" && e["status"] == 409)
    );
    assert!(entries.iter().any(|e| e["action"] == "POST /api/providers"
        && e["userid"] == "vera"
        && e["status"] == 403));
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "login" && e["outcome"] == "success")
    );

    // The CLI: passwd from stdin, list, and the last user manager cannot be removed.
    let out = steward_with_input(
        &["user", "passwd", "vera", "--password-stdin"],
        &config.cli_env(),
        "a-new-password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(as_vera("GET", "/api", None).0, 401);
    let out = steward(&["user", "remove", "admin"], &config.cli_env());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("last user who can manage users"));
    let out = steward(&["user", "remove", "vera"], &config.cli_env());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = steward(&["user", "list"], &config.cli_env());
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("otto") && !text.contains("vera"), "{text}");
});

both_backends!(errors_have_the_right_status_and_shape, |db: TestDb| {
    let node = NodeConfig::new(&db, "errors").start();
    // A known path with another method: 405 and Allow.
    let (status, body) = node.admin_request("DELETE", "/api/servers", None);
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"]["kind"], "method_not_allowed");
    let (status, body) = node.admin_request("GET", "/api/not_a_collection", None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["kind"], "not_found");
    // HEAD wherever GET works; /ping needs nothing.
    assert_eq!(node.request("HEAD", "/ping", None, &[]).0, 200);
    assert_eq!(node.request("HEAD", "/api/ping", None, &[]).0, 200);
    let token = node.admin_token();
    assert_eq!(
        node.request("HEAD", "/api/servers", None, &[("X-Auth-Token", &token)])
            .0,
        200
    );
    // The public product information.
    let (status, info) = node.request("GET", "/api/product_info", None, &[]);
    assert_eq!(status, 200);
    assert_eq!(info["name"], "Steward");
    // 413 for a body over the limit, 415 for a body that is not JSON.
    let huge = json!({"command": "diag.noop", "args": "x".repeat(2 << 20)});
    let (status, body) = node.admin_request("POST", "/api/queue/messages", Some(&huge));
    assert_eq!(status, 413, "{}", common::cut(&body.to_string(), 300));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent
        .post(format!("{}/api/queue/messages", node.url()))
        .header("X-Auth-Token", &token)
        .header("Content-Type", "text/plain")
        .send("command=diag.noop")
        .expect("send");
    assert_eq!(answer.status().as_u16(), 415);
});

both_backends!(tenants_roles_and_groups_through_the_api, |db: TestDb| {
    let node = NodeConfig::new(&db, "rbac-api").start();
    let features = node.get_json("/api/features?expand=resources");
    let names: Vec<&str> = features["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"tag_manage") && names.contains(&"audit_view"),
        "{features}"
    );
    let (status, role) = node.post_json(
        "/api/roles",
        &json!({"name": "auditor", "features": ["audit_view"]}),
    );
    assert_eq!(status, 201, "{role}");
    let (status, body) = node.post_json("/api/roles", &json!({"name": "x", "features": ["fly"]}));
    assert_eq!(status, 400, "{body}");
    let (status, tenant) = node.post_json("/api/tenants", &json!({"name": "west"}));
    assert_eq!(status, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().expect("id").to_string();
    let (status, body) = node.post_json(
        "/api/groups",
        &json!({"name": "bad", "role": "auditor", "filters": {"tags": [["nope"]]}}),
    );
    assert_eq!(status, 400, "{body}");
    let (status, group) = node.post_json(
        "/api/groups",
        &json!({"name": "west-auditors", "role": "auditor", "tenant_id": tenant_id, "filters": {"projects": ["web"]}}),
    );
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["tenant"], "west");
    let (status, user) = node.post_json(
        "/api/users",
        &json!({"userid": "wes", "password": "wes-password-1", "groups": ["west-auditors"]}),
    );
    assert_eq!(status, 201, "{user}");
    let wes = basic_auth("wes", "wes-password-1");
    let (status, me) = node.request("GET", "/api", None, &[("Authorization", &wes)]);
    assert_eq!(status, 200);
    assert_eq!(me["identity"]["tenant"], "west");
    assert_eq!(me["identity"]["role"], "auditor");
    assert_eq!(
        node.request("GET", "/api/audit_events", None, &[("Authorization", &wes)])
            .0,
        200
    );
    assert_eq!(
        node.request("GET", "/api/providers", None, &[("Authorization", &wes)])
            .0,
        403
    );
    // What is in use cannot be removed; built-ins never.
    let group_id = group["id"].as_str().expect("id");
    let role_id = role["id"].as_str().expect("id");
    assert_eq!(node.delete(&format!("/api/tenants/{tenant_id}")).0, 409);
    assert_eq!(node.delete(&format!("/api/groups/{group_id}")).0, 409);
    assert_eq!(node.delete(&format!("/api/roles/{role_id}")).0, 409);
    let groups = node.get_json("/api/groups?expand=resources");
    let admin_group = groups["resources"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "admin"))
        .and_then(|g| g["id"].as_str())
        .expect("admin group")
        .to_string();
    assert_eq!(node.delete(&format!("/api/groups/{admin_group}")).0, 409);
    let user_id = user["id"].as_str().expect("id");
    assert_eq!(node.delete(&format!("/api/users/{user_id}")).0, 204);
    assert_eq!(node.delete(&format!("/api/groups/{group_id}")).0, 204);
    assert_eq!(node.delete(&format!("/api/roles/{role_id}")).0, 204);
    assert_eq!(node.delete(&format!("/api/tenants/{tenant_id}")).0, 204);
});
