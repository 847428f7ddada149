//! The live feed (`GET /ws`) through a real websocket against a real node — on its own
//! listener, where `GET /api` sends clients, and on the web port: refused without
//! credentials (and the listener's other refusals before any upgrade), topics by
//! feature, queue statistics arriving, sequence numbers, and a reconnecting client
//! resuming where it stopped.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{NodeConfig, Sim, TestDb, basic_auth, wait_until};
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Where clients connect: the live feed's own listener, as `GET /api` names it.
fn ws_url(node: &common::Node) -> String {
    node.ws_url()
}

/// `GET /ws` on the web port (actix-web), still served.
fn web_ws_url(node: &common::Node) -> String {
    format!("{}/ws", node.url().replacen("http://", "ws://", 1))
}

/// Opens the live feed with `headers`; the handshake's HTTP status when refused.
fn open(node: &common::Node, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    open_at(&ws_url(node), headers).map_err(|r| r.status().as_u16())
}

/// Opens the websocket at `url` with `headers`; the refusal when refused.
fn open_at(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, Box<tungstenite::http::Response<Option<Vec<u8>>>>> {
    let mut request = url.into_client_request().expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    match tungstenite::connect(request) {
        Ok((socket, _)) => {
            if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
                tcp.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
            }
            Ok(socket)
        }
        Err(tungstenite::Error::Http(response)) => Err(response),
        Err(e) => panic!("websocket: {e}"),
    }
}

/// The next JSON text message (pings are answered by tungstenite).
fn next(socket: &mut Socket) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        match socket.read().expect("read") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("json"),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
    panic!("no message in 15 s");
}

fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .expect("send");
}

fn node(db: &TestDb) -> common::Node {
    NodeConfig::new(db, "live")
        .env("STEWARD__WEBSOCKET__QUEUE_INTERVAL", "200ms")
        .start()
}

both_backends!(
    the_live_feed_needs_a_login_and_numbers_what_it_sends,
    |db: TestDb| {
        let node = node(&db);
        // Refused without credentials, or with wrong ones, before any upgrade.
        assert_eq!(open(&node, &[]).err(), Some(401));
        assert_eq!(
            open(&node, &[("X-Auth-Token", "not-a-token")]).err(),
            Some(401)
        );
        // A plain GET that is no handshake is a clear 400.
        let (status, body) = node.get("/ws");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("websocket handshake"), "{body}");

        let token = node.admin_token();
        let mut socket = open(&node, &[("X-Auth-Token", &token)]).expect("admin connects");
        let hello = next(&mut socket);
        assert_eq!(hello["type"], "hello", "{hello}");
        assert_eq!(
            hello["topics"],
            json!([
                "queue",
                "servers",
                "refreshes",
                "inventory",
                "tasks",
                "events",
                "alerts"
            ]),
            "{hello}"
        );
        let epoch = hello["epoch"].as_u64().expect("epoch");

        // Bad messages get an error and the connection stays.
        send(
            &mut socket,
            json!({"type": "subscribe", "topics": ["nope"]}),
        );
        let error = next(&mut socket);
        assert_eq!(error["type"], "error", "{error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("unknown topic"))
        );
        socket.send(Message::text("{not json")).expect("send");
        assert_eq!(next(&mut socket)["type"], "error");

        send(
            &mut socket,
            json!({"type": "subscribe", "topics": ["queue"]}),
        );
        let subscribed = next(&mut socket);
        assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
        assert_eq!(subscribed["gap"], false);
        let mut seqs = Vec::new();
        for _ in 0..3 {
            let event = next(&mut socket);
            assert_eq!(
                (event["type"].clone(), event["topic"].clone()),
                (json!("event"), json!("queue")),
                "{event}"
            );
            assert_eq!(event["epoch"].as_u64(), Some(epoch));
            assert!(event["data"]["totals"].is_object(), "{event}");
            assert!(event["at"].is_string());
            seqs.push(event["seq"].as_u64().expect("seq"));
        }
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
        let last = *seqs.last().expect("seen");
        drop(socket);

        // Reconnect and resume: first what was published meanwhile, in order, no gap.
        std::thread::sleep(Duration::from_millis(700));
        let mut socket = open(&node, &[("Authorization", &node.admin_auth())]).expect("reconnects");
        assert_eq!(next(&mut socket)["type"], "hello");
        send(
            &mut socket,
            json!({"type": "subscribe", "topics": ["queue"], "since": {"epoch": epoch, "seq": last}}),
        );
        let subscribed = next(&mut socket);
        assert_eq!(subscribed["gap"], false, "{subscribed}");
        let first = next(&mut socket);
        assert_eq!(
            first["seq"].as_u64(),
            Some(last + 1),
            "resumes right after {last}: {first}"
        );
        // From another epoch (a restarted node): told there is a gap.
        send(
            &mut socket,
            json!({"type": "subscribe", "topics": ["queue"], "since": {"epoch": epoch + 1, "seq": 1}}),
        );
        let mut answer = next(&mut socket);
        while answer["type"] == "event" {
            answer = next(&mut socket);
        }
        assert_eq!(
            (answer["type"].clone(), answer["gap"].clone()),
            (json!("subscribed"), json!(true)),
            "{answer}"
        );
    }
);

/// Sends `request` as is to the live feed's listener and reads until it closes: the
/// answer's status (0: none) and text.
fn raw(ws_url: &str, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let url = url::Url::parse(ws_url).expect("url");
    let mut tcp = TcpStream::connect((url.host_str().expect("host"), url.port().expect("port")))
        .expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    tcp.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn body_of(refusal: &tungstenite::http::Response<Option<Vec<u8>>>) -> String {
    String::from_utf8_lossy(refusal.body().as_deref().unwrap_or_default()).to_string()
}

both_backends!(
    the_listener_refuses_what_the_web_port_refuses_before_any_upgrade,
    |db: TestDb| {
        let node = node(&db);
        let url = ws_url(&node);
        let parsed = url::Url::parse(&url).expect("url");
        let web = url::Url::parse(&node.url()).expect("url");
        assert_eq!(parsed.path(), "/ws", "{url}");
        assert_eq!(parsed.host_str(), web.host_str(), "{url}");
        assert_ne!(parsed.port(), web.port(), "a listener of its own: {url}");
        let http = url.replacen("ws://", "http://", 1);
        let token = node.admin_token();

        // No credentials: 401 and no socket; WWW-Authenticate for API clients, none for
        // browsers (they name their origin).
        let refused = open_at(&url, &[]).expect_err("refused");
        assert_eq!(refused.status(), 401, "{}", body_of(&refused));
        assert!(refused.headers().contains_key("www-authenticate"));
        assert!(
            body_of(&refused).contains("unauthorized"),
            "{}",
            body_of(&refused)
        );
        let browser = open_at(&url, &[("Origin", &node.url())]).expect_err("refused");
        assert_eq!(browser.status(), 401);
        assert!(!browser.headers().contains_key("www-authenticate"));
        let forged = open_at(&url, &[("X-Auth-Token", "forged")]).expect_err("refused");
        assert_eq!(forged.status(), 401);

        // The session cookie: from the console's origin (the web port) it connects; from
        // any other origin — the listener's own included — it is a 403.
        let cookie = format!("steward_session={token}");
        for origin in ["http://evil.example", &http.replace("/ws", "")] {
            let foreign =
                open_at(&url, &[("Cookie", &cookie), ("Origin", origin)]).expect_err("refused");
            assert_eq!(foreign.status(), 403, "{origin}: {}", body_of(&foreign));
            assert!(
                body_of(&foreign).contains("origin"),
                "{}",
                body_of(&foreign)
            );
        }
        let mut console = open_at(&url, &[("Cookie", &cookie), ("Origin", &node.url())])
            .expect("the console's origin connects");
        assert_eq!(next(&mut console)["type"], "hello");
        drop(console);

        // A GET that is no handshake: 400 naming it. Another path: 401 for strangers,
        // 404 after login. Another method: 405.
        let (status, body) = common::http_request("GET", &http, None, &[("X-Auth-Token", &token)]);
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains("websocket handshake"), "{body}");
        let other = http.replace("/ws", "/api");
        assert_eq!(common::http_request("GET", &other, None, &[]).0, 401);
        let (status, body) = common::http_request("GET", &other, None, &[("X-Auth-Token", &token)]);
        assert_eq!(status, 404, "{body}");
        let (status, body) = common::http_request("POST", &http, None, &[("X-Auth-Token", &token)]);
        assert_eq!(status, 405, "{body}");

        // A request head over 16 KiB: 431, whoever sends it.
        let padding = "x".repeat(20 * 1024);
        let (status, text) = raw(
            &url,
            format!("GET /ws HTTP/1.1\r\nHost: x\r\nX-Padding: {padding}\r\n\r\n").as_bytes(),
        );
        assert_eq!(status, 431, "{text}");
        // A handshake that never completes is closed after 10 s, unanswered.
        let started = Instant::now();
        let (status, text) = raw(&url, b"GET /ws HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(status, 0, "{text}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
            "{waited:?}"
        );
    }
);

both_backends!(
    get_ws_on_the_web_port_is_the_same_conversation,
    |db: TestDb| {
        let node = node(&db);
        assert_eq!(
            open_at(&web_ws_url(&node), &[])
                .err()
                .map(|r| r.status().as_u16()),
            Some(401)
        );
        let token = node.admin_token();
        let mut socket =
            open_at(&web_ws_url(&node), &[("X-Auth-Token", &token)]).expect("connects");
        let hello = next(&mut socket);
        assert_eq!(hello["type"], "hello", "{hello}");
        send(
            &mut socket,
            json!({"type": "subscribe", "topics": ["queue"]}),
        );
        assert_eq!(next(&mut socket)["type"], "subscribed");
        let event = next(&mut socket);
        assert_eq!(
            (event["type"].clone(), event["topic"].clone()),
            (json!("event"), json!("queue")),
            "{event}"
        );
    }
);

both_backends!(topics_follow_the_users_features, |db: TestDb| {
    let node = node(&db);
    let (status, role) = node.post_json(
        "/api/roles",
        &json!({"name": "auditor", "features": ["audit_view"]}),
    );
    assert_eq!(status, 201, "{role}");
    let (status, group) = node.post_json(
        "/api/groups",
        &json!({"name": "auditors", "role": "auditor"}),
    );
    assert_eq!(status, 201, "{group}");
    let (status, user) = node.post_json(
        "/api/users",
        &json!({"userid": "aud", "password": "auditor-pw-1", "groups": ["auditors"]}),
    );
    assert_eq!(status, 201, "{user}");
    let auth = basic_auth("aud", "auditor-pw-1");
    let mut socket = open(&node, &[("Authorization", &auth)]).expect("a user connects");
    let hello = next(&mut socket);
    assert_eq!(hello["topics"], json!([]), "{hello}");
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["queue"]}),
    );
    let error = next(&mut socket);
    assert_eq!(error["type"], "error", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("ops_view")),
        "{error}"
    );
});

both_backends!(a_revoked_token_ends_its_connection, |db: TestDb| {
    let node = NodeConfig::new(&db, "live")
        .env("STEWARD__WEBSOCKET__QUEUE_INTERVAL", "200ms")
        .env("STEWARD__WEBSOCKET__PING_INTERVAL", "300ms")
        .env("STEWARD__WEBSOCKET__RECHECK_INTERVAL", "300ms")
        .start();
    // A token of its own (the node helper's cached admin token stays usable).
    let (status, login) = node.request(
        "GET",
        "/api/auth",
        None,
        &[("Authorization", &node.admin_auth())],
    );
    assert_eq!(status, 200, "{login}");
    let token = login["auth_token"].as_str().expect("token").to_string();
    let mut socket = open(&node, &[("X-Auth-Token", &token)]).expect("connects");
    assert_eq!(next(&mut socket)["type"], "hello");
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["queue"]}),
    );
    assert_eq!(next(&mut socket)["type"], "subscribed");
    // Still open across several pings while the token is good.
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        assert_eq!(next(&mut socket)["type"], "event");
    }
    let (status, _) = node.request("DELETE", "/api/auth", None, &[("X-Auth-Token", &token)]);
    assert!(status == 200 || status == 204, "{status}");
    // Within a few pings (the token cache holds a holder for up to 5 s): told, then closed.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut told = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "still open after the token was revoked"
        );
        match socket.read() {
            Ok(Message::Text(text)) => {
                let message: Value = serde_json::from_str(text.as_str()).expect("json");
                if message["type"] == "error" {
                    told = Some(message);
                }
            }
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let told = told.expect("an error message before the close");
    assert!(
        told["message"]
            .as_str()
            .is_some_and(|m| m.contains("token")),
        "{told}"
    );
});

both_backends!(servers_coming_and_going_are_pushed, |db: TestDb| {
    let node = NodeConfig::new(&db, "live-a")
        .env("STEWARD__WEBSOCKET__SERVERS_INTERVAL", "200ms")
        .start();
    let mut socket = open(&node, &[("X-Auth-Token", &node.admin_token())]).expect("connects");
    assert_eq!(next(&mut socket)["type"], "hello");
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["servers"]}),
    );
    assert_eq!(next(&mut socket)["type"], "subscribed");
    // Let the feed take its baseline, then a second node joins the region.
    std::thread::sleep(Duration::from_millis(600));
    let mut other = NodeConfig::new(&db, "live-b").start();
    let named = |event: &Value, name: &str, status: &str| {
        event["data"]["changed"]
            .as_array()
            .is_some_and(|c| c.iter().any(|s| s["name"] == name && s["status"] == status))
    };
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|e| named(e, "live-b", "started")) {
        assert!(
            Instant::now() < deadline,
            "no event for the new server: {seen:?}"
        );
        let event = next(&mut socket);
        assert_eq!(event["topic"], "servers", "{event}");
        // Heartbeats alone are not changes: every event names a server.
        assert!(
            event["data"]["changed"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
                || event["data"]["removed"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty()),
            "{event}"
        );
        seen.push(event);
    }
    // It stops: its status change is pushed too.
    other.terminate(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no event for the stopped server");
        let event = next(&mut socket);
        if named(&event, "live-b", "stopped") {
            break;
        }
    }
});

both_backends!(
    refreshes_reach_only_those_who_may_see_the_provider,
    |db: TestDb| {
        let node = NodeConfig::new(&db, "live")
            .env("STEWARD__WEBSOCKET__SERVERS_INTERVAL", "200ms")
            .start();
        let add = |name: &str, sim: &Sim| {
            let (status, reply) = node.post_json(
                "/api/providers",
                &json!({"name": name, "api_url": sim.url, "allow_insecure_http": true}),
            );
            assert_eq!(status, 201, "{reply}");
            reply["id"].as_str().expect("id").to_string()
        };
        let sim_a = Sim::start(&["--nodes", "1", "--pods-per-node", "2", "--seed", "1"]);
        let sim_b = Sim::start(&["--nodes", "1", "--pods-per-node", "2", "--seed", "2"]);
        let a = add("cluster-a", &sim_a);
        // A viewer limited to cluster-a.
        let (status, group) = node.post_json(
            "/api/groups",
            &json!({"name": "a-viewers", "role": "viewer", "filters": {"providers": [a]}}),
        );
        assert_eq!(status, 201, "{group}");
        let (status, user) = node.post_json(
            "/api/users",
            &json!({"userid": "ava", "password": "viewer-pw-1", "groups": ["a-viewers"]}),
        );
        assert_eq!(status, 201, "{user}");
        let subscribe = |headers: &[(&str, &str)]| {
            let mut socket = open(&node, headers).expect("connects");
            assert_eq!(next(&mut socket)["type"], "hello");
            send(
                &mut socket,
                json!({"type": "subscribe", "topics": ["refreshes"]}),
            );
            assert_eq!(next(&mut socket)["type"], "subscribed");
            socket
        };
        let mut admin = subscribe(&[("X-Auth-Token", &node.admin_token())]);
        let mut ava = subscribe(&[("Authorization", &basic_auth("ava", "viewer-pw-1"))]);
        // Let the feed take its baseline, then cluster-b arrives and refreshes.
        std::thread::sleep(Duration::from_millis(600));
        let b = add("cluster-b", &sim_b);
        let until_full = |socket: &mut Socket, provider: &str| -> Vec<Value> {
            let mut seen = Vec::new();
            loop {
                let event = next(socket);
                assert_eq!(event["topic"], "refreshes", "{event}");
                let done =
                    event["data"]["provider_id"] == provider && event["data"]["kind"] == "full";
                seen.push(event);
                if done {
                    return seen;
                }
            }
        };
        let seen = until_full(&mut admin, &b);
        let last = seen.last().expect("event");
        assert_eq!(last["data"]["status"], "ok", "{last}");
        assert!(last["data"]["total_s"].as_f64().is_some(), "{last}");
        // Now cluster-a refreshes: ava sees it, and nothing of cluster-b before it.
        let (status, body) = node.post_json(
            &format!("/api/providers/{a}"),
            &json!({"action": "refresh"}),
        );
        assert_eq!(status, 202, "{body}");
        let seen = until_full(&mut ava, &a);
        assert!(
            seen.iter().all(|e| e["data"]["provider_id"] == a.as_str()),
            "ava saw another provider's refresh: {seen:?}"
        );
        let seen = until_full(&mut admin, &a);
        assert!(!seen.is_empty());
    }
);

// ---- the `inventory` topic ----

/// A node whose live feed reads the inventory change log often and whose watches
/// batch quickly.
fn inventory_node(db: &TestDb, name: &str) -> NodeConfig {
    NodeConfig::new(db, name)
        .env("STEWARD__WEBSOCKET__SERVERS_INTERVAL", "200ms")
        .env("STEWARD__WEBSOCKET__INVENTORY_POLL", "200ms")
        .env("STEWARD__EMS_REFRESH__WATCH_BATCH_WINDOW", "200ms")
}

/// A socket subscribed to `inventory` (`collections`: the filter, if any).
fn subscribe_inventory(
    node: &common::Node,
    headers: &[(&str, &str)],
    collections: Option<&[&str]>,
) -> Socket {
    let mut socket = match open(node, headers) {
        Ok(socket) => socket,
        Err(status) => panic!("connects: {status}\n{}", node.logs()),
    };
    assert_eq!(next(&mut socket)["type"], "hello");
    let mut message = json!({"type": "subscribe", "topics": ["inventory"]});
    if let Some(c) = collections {
        message["collections"] = json!(c);
    }
    send(&mut socket, message);
    let subscribed = next(&mut socket);
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    socket
}

/// The changes of one inventory event, each with its event's collection.
fn changes_of(event: &Value) -> Vec<Value> {
    assert_eq!(event["type"], "event", "{event}");
    assert_eq!(event["topic"], "inventory", "{event}");
    assert_eq!(event["data"]["reload"], false, "{event}");
    let collection = event["data"]["collection"].clone();
    event["data"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut c| {
            c["collection"] = collection.clone();
            c
        })
        .collect()
}

/// Inventory changes received until `done` holds of them all (within 60 s).
fn changes_until(socket: &mut Socket, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "not all changes arrived: {} seen",
            seen.len()
        );
        seen.extend(changes_of(&next(socket)));
    }
    seen
}

/// Inventory changes received until nothing came for `quiet`.
fn changes_while_talking(socket: &mut Socket, quiet: Duration) -> Vec<Value> {
    messages_while_talking(socket, quiet)
        .iter()
        .flat_map(changes_of)
        .collect()
}

fn of<'a>(changes: &'a [Value], collection: &'a str) -> impl Iterator<Item = &'a Value> {
    changes
        .iter()
        .filter(move |c| c["collection"] == collection)
}

/// The pods of `provider` as the API lists them (deleted ones too).
fn pods_of(node: &common::Node, provider: &str) -> Vec<Value> {
    let page = node.get_json(&format!(
        "/api/container_groups?provider_id={provider}&include_deleted=true&limit=5000&expand=resources&attributes=namespace,ems_ref,deleted_on"
    ));
    page["resources"].as_array().cloned().unwrap_or_default()
}

fn add_sim(node: &common::Node, name: &str, sim: &Sim) -> String {
    let (status, reply) = node.post_json(
        "/api/providers",
        &json!({"name": name, "api_url": sim.url, "allow_insecure_http": true}),
    );
    assert_eq!(status, 201, "{reply}");
    reply["id"].as_str().expect("id").to_string()
}

/// Pat, a viewer limited to the project `payments` (password `viewer-pw-1`).
fn add_payments_viewer(node: &common::Node) {
    let (status, group) = node.post_json(
        "/api/groups",
        &json!({"name": "payments-viewers", "role": "viewer", "filters": {"projects": ["payments"]}}),
    );
    assert_eq!(status, 201, "{group}");
    let (status, user) = node.post_json(
        "/api/users",
        &json!({"userid": "pat", "password": "viewer-pw-1", "groups": ["payments-viewers"]}),
    );
    assert_eq!(status, 201, "{user}");
}

fn sim_pod_count(sim: &Sim) -> usize {
    sim.get_json("/api/v1/pods")["items"]
        .as_array()
        .map_or(0, Vec::len)
}

both_backends!(
    inventory_changes_reach_only_those_who_may_read_the_objects,
    |db: TestDb| {
        let node = inventory_node(&db, "live").start();
        let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "30", "--seed", "5"]);
        add_payments_viewer(&node);
        let mut admin = subscribe_inventory(
            &node,
            &[("X-Auth-Token", &node.admin_token())],
            Some(&["container_groups"]),
        );
        let mut pat = subscribe_inventory(
            &node,
            &[("Authorization", &basic_auth("pat", "viewer-pw-1"))],
            None,
        );
        // Let the feed take its baseline, then the provider's first refresh.
        std::thread::sleep(Duration::from_millis(600));
        let provider = add_sim(&node, "cluster", &sim);
        let total = sim_pod_count(&sim);
        assert!(total >= 60, "{total}");
        let seen = changes_until(&mut admin, |seen| seen.len() >= total);
        assert!(
            seen.iter().all(|c| c["collection"] == "container_groups"
                && c["action"] == "created"
                && c["provider_id"].is_null()
                && c["name"].is_string()
                && c["namespace"].is_string()
                && c["ems_ref"].is_string()),
            "only created pods, as asked: {:?}",
            seen.first()
        );
        let stored = pods_of(&node, &provider);
        let ids = |rows: &mut dyn Iterator<Item = &Value>| -> std::collections::BTreeSet<String> {
            rows.filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        };
        assert_eq!(ids(&mut seen.iter()), ids(&mut stored.iter()));

        // Pat receives the pods of `payments` and nothing of other projects.
        let payments: Vec<&Value> = stored
            .iter()
            .filter(|p| p["namespace"] == "payments")
            .collect();
        assert!(!payments.is_empty() && payments.len() < stored.len());
        let mut got = changes_until(&mut pat, |seen| {
            of(seen, "container_groups").count() >= payments.len()
        });
        got.extend(changes_while_talking(&mut pat, Duration::from_millis(1500)));
        let pat_pods: Vec<&Value> = of(&got, "container_groups").collect();
        assert!(
            pat_pods.iter().all(|p| p["namespace"] == "payments"),
            "pat saw another project's pod"
        );
        assert_eq!(
            ids(&mut pat_pods.iter().copied()),
            ids(&mut payments.iter().copied())
        );
        for project in of(&got, "container_projects") {
            assert_eq!(project["name"], "payments", "{project}");
        }
        let pod_ids = ids(&mut pat_pods.iter().copied());
        let containers: Vec<&Value> = of(&got, "containers").collect();
        assert!(!containers.is_empty(), "pat's pods' containers");
        for container in containers {
            let group = container["container_group_id"].as_str().unwrap_or("");
            assert!(pod_ids.contains(group), "{container}");
        }
        for service in of(&got, "container_services").chain(of(&got, "container_replicators")) {
            assert_eq!(service["namespace"], "payments", "{service}");
        }

        // Watched changes (partial saves) arrive too: pods created and deleted.
        let changed = sim.admin("/_sim/churn", json!({"create": 4, "delete": 2}));
        let uids = |what: &str| -> Vec<String> {
            changed[what]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|t| t["uid"].as_str().map(str::to_string))
                .collect()
        };
        let (created, deleted) = (uids("created"), uids("deleted"));
        assert_eq!((created.len(), deleted.len()), (4, 2), "{changed}");
        let arrived = |seen: &[Value], uid: &str, action: &str| {
            seen.iter()
                .any(|c| c["ems_ref"] == uid && c["action"] == action)
        };
        let seen = changes_until(&mut admin, |seen| {
            created.iter().all(|u| arrived(seen, u, "created"))
                && deleted.iter().all(|u| arrived(seen, u, "deleted"))
        });
        assert!(seen.iter().all(|c| c["collection"] == "container_groups"));
        let later = changes_while_talking(&mut pat, Duration::from_millis(1500));
        assert!(
            of(&later, "container_groups").all(|p| p["namespace"] == "payments"),
            "pat saw another project's pod: {later:?}"
        );
    }
);

/// PostgreSQL: a refresh run by node A reaches a subscriber of node B, woken by the
/// NOTIFY (B polls only every 30 s here, so a timely arrival is the notification's).
#[test]
fn a_change_refreshed_on_one_node_reaches_subscribers_of_another() {
    let db = TestDb::new(common::Backend::Postgres);
    let a = inventory_node(&db, "live-a").start();
    let b = inventory_node(&db, "live-b")
        .env(
            "STEWARD__ROLES__ENABLED",
            "websocket,web_services,user_interface",
        )
        .env("STEWARD__WEBSOCKET__INVENTORY_POLL", "30s")
        .start();
    let mut socket = subscribe_inventory(
        &b,
        &[("Authorization", &a.admin_auth())],
        Some(&["container_groups"]),
    );
    std::thread::sleep(Duration::from_millis(600));
    let sim = Sim::start(&["--nodes", "1", "--pods-per-node", "12", "--seed", "3"]);
    let started = Instant::now();
    add_sim(&a, "cluster", &sim);
    let total = sim_pod_count(&sim);
    let seen = changes_until(&mut socket, |seen| seen.len() >= total);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "arrived only after {:?}: the poll's, not the NOTIFY's",
        started.elapsed()
    );
    assert!(seen.iter().all(|c| c["action"] == "created"));
    // Every refresh ran on A: B holds no inventory role.
    assert!(
        a.logs().contains("refresh worker started") && !b.logs().contains("refresh worker started"),
        "the refresh must run on A only"
    );
    // A watched change on A arrives at B too.
    let changed = sim.admin("/_sim/churn", json!({"create": 1}));
    let uid = changed["created"][0]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    let started = Instant::now();
    changes_until(&mut socket, |seen| {
        seen.iter().any(|c| c["ems_ref"] == uid.as_str())
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// Opens `/ws` on a TCP socket whose receive buffer is 4 KiB from the start (set
/// before the handshake, so the window it advertises stays small and the node's send
/// buffer does not grow): a client that stops reading backs up into the node's
/// per-client buffer after a few events instead of megabytes.
fn open_small_window(node: &common::Node, token: &str) -> WebSocket<TcpStream> {
    use std::os::fd::FromRawFd;
    let url = url::Url::parse(&ws_url(node)).expect("url");
    let port = url.port().expect("port");
    // SAFETY: plain socket calls on a descriptor this function creates and hands to
    // `TcpStream`, which owns and closes it; the option value is a c_int of the size
    // given, and the address a sockaddr_in of the size given.
    let tcp = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let size: libc::c_int = 4096;
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "SO_RCVBUF");
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let rc = libc::connect(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect");
        TcpStream::from_raw_fd(fd)
    };
    let mut request = ws_url(node).into_client_request().expect("request");
    request
        .headers_mut()
        .insert("X-Auth-Token", token.parse().expect("token"));
    let (mut socket, _) = tungstenite::client(request, tcp).expect("handshake");
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let read = |socket: &mut WebSocket<TcpStream>| match socket.read().expect("read") {
        Message::Text(text) => serde_json::from_str::<Value>(text.as_str()).expect("json"),
        other => panic!("{other:?}"),
    };
    assert_eq!(read(&mut socket)["type"], "hello");
    socket
        .send(Message::text(
            json!({"type": "subscribe", "topics": ["inventory"]}).to_string(),
        ))
        .expect("send");
    assert_eq!(read(&mut socket)["type"], "subscribed");
    socket
}

both_backends!(
    a_client_that_stops_reading_inventory_is_dropped_and_the_others_keep_receiving,
    |db: TestDb| {
        let node = inventory_node(&db, "live")
            .env("STEWARD__WEBSOCKET__CLIENT_BUFFER", "16")
            // Silence is not what this test is about (the slow client never pongs).
            .env("STEWARD__WEBSOCKET__PING_INTERVAL", "60s")
            .env("STEWARD__EMS_REFRESH__WATCH_BATCH_WINDOW", "50ms")
            // What the kernel holds for a client that stops reading: little.
            .env("STEWARD__WEB__SEND_BUFFER", "16KiB")
            .start();
        let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "50", "--seed", "9"]);
        let token = node.admin_token();
        let slow = open_small_window(&node, &token);
        let mut fast = subscribe_inventory(
            &node,
            &[("X-Auth-Token", &token)],
            Some(&["container_groups"]),
        );
        // The fast client reads everything, on its own thread, until told to stop.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let reader = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                if let MaybeTlsStream::Plain(tcp) = fast.get_ref() {
                    tcp.set_read_timeout(Some(Duration::from_millis(200)))
                        .expect("timeout");
                }
                let mut events = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match fast.read() {
                        Ok(Message::Text(text)) => {
                            let message: Value = serde_json::from_str(text.as_str()).expect("json");
                            assert_ne!(message["type"], "dropped", "the fast client was dropped");
                            events += 1;
                            let uids = message["data"]["changes"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                                .iter()
                                .filter_map(|c| c["ems_ref"].as_str().map(str::to_string))
                                .collect::<Vec<_>>();
                            if let Ok(mut seen) = seen.lock() {
                                seen.extend(uids);
                            }
                        }
                        Ok(Message::Close(frame)) => {
                            panic!("the fast client was closed: {frame:?}")
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(e) => panic!("the fast client: {e}"),
                    }
                }
                events
            })
        };
        std::thread::sleep(Duration::from_millis(600));
        add_sim(&node, "cluster", &sim);
        // Churn until the node drops the client that does not read: many small watch
        // batches, each a few events (the events, not their size, fill its buffers).
        let started = Instant::now();
        let needle = "websocket client dropped";
        while node.find_log(needle).is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the slow client was never dropped; {} changes reached the fast one; {}",
                seen.lock().map_or(0, |s| s.len()),
                node.logs()
                    .lines()
                    .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            sim.admin("/_sim/churn", json!({"restart": 20, "relabel": 20}));
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(node.count_log(needle), 1, "only the slow client is dropped");
        // The fast client still receives what happens after: more than the slow
        // client's whole buffer of events in all. (The listener holds less for a
        // client than actix-ws's channel and write buffer did, so the drop now comes
        // after fewer events: the changes are made after it.)
        let mut uids = Vec::new();
        for _ in 0..12 {
            let changed = sim.admin("/_sim/churn", json!({"create": 1}));
            uids.push(
                changed["created"][0]["uid"]
                    .as_str()
                    .expect("uid")
                    .to_string(),
            );
            std::thread::sleep(Duration::from_millis(150));
        }
        let arrived = common::wait_until(Duration::from_secs(20), || {
            seen.lock()
                .is_ok_and(|s| uids.iter().all(|uid| s.contains(uid)))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let events = reader.join().expect("the fast client's thread");
        assert!(arrived, "the fast client missed a change after the drop");
        assert!(events > 16, "{events}");
        // The slow client, reading at last, finds the notice and the close (1008).
        let mut slow = slow;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut told = false;
        loop {
            assert!(Instant::now() < deadline, "the slow client was not closed");
            match slow.read() {
                Ok(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(text.as_str()).expect("json");
                    told |= message["type"] == "dropped";
                }
                Ok(Message::Close(frame)) => {
                    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008));
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("the slow client: {e}"),
            }
        }
        assert!(told, "a `dropped` notice before the close");
    }
);

both_backends!(tasks_are_followed_from_queued_to_finished, |db: TestDb| {
    let node = common::queue_node(&db, "tasks")
        .env("STEWARD__WEBSOCKET__SERVERS_INTERVAL", "200ms")
        .start();
    let token = node.admin_token();
    let mut socket = open(&node, &[("X-Auth-Token", &token)]).expect("admin connects");
    assert_eq!(next(&mut socket)["type"], "hello");
    send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["tasks"]}),
    );
    assert_eq!(next(&mut socket)["type"], "subscribed");
    // The feed's baseline is taken at its first look after the subscription.
    std::thread::sleep(Duration::from_millis(600));
    let quick = common::put(&node, json!({"command": "Diagnostics.noop", "args": {}}));
    let slow = common::put(
        &node,
        json!({"command": "Diagnostics.sleep", "args": {"seconds": 1.5}}),
    );
    let failing = common::put(
        &node,
        json!({"command": "Diagnostics.sleep", "args": {"seconds": "soon"}}),
    );
    // What each task was told to be, in order.
    let mut states: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let finished = |states: &std::collections::BTreeMap<String, Vec<String>>, id: &str| {
        states
            .get(id)
            .is_some_and(|s| s.last().is_some_and(|l| l == "Finished"))
    };
    while Instant::now() < deadline
        && ![&quick, &slow, &failing]
            .iter()
            .all(|id| finished(&states, id))
    {
        let event = next(&mut socket);
        assert_eq!(event["topic"], "tasks", "{event}");
        for task in event["data"]["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let id = task["id"].as_str().unwrap_or_default().to_string();
            let state = task["state"].as_str().unwrap_or_default().to_string();
            if id == failing && state == "Finished" {
                assert_eq!(task["status"], "Error", "{task}");
            }
            states.entry(id).or_default().push(state);
        }
    }
    for id in [&quick, &slow, &failing] {
        assert!(finished(&states, id), "task {id}: {states:?}");
    }
    // The slow one was seen running before it finished, and no state is told twice.
    assert_eq!(
        states[&slow].iter().filter(|s| *s == "Active").count(),
        1,
        "{states:?}"
    );
    for (id, told) in &states {
        let mut unique = told.clone();
        unique.dedup();
        assert_eq!(&unique, told, "task {id} told the same state twice");
    }
});

/// A socket subscribed to `topics`.
fn subscribe_to(node: &common::Node, headers: &[(&str, &str)], topics: &[&str]) -> Socket {
    let mut socket = match open(node, headers) {
        Ok(socket) => socket,
        Err(status) => panic!("connects: {status}\n{}", node.logs()),
    };
    assert_eq!(next(&mut socket)["type"], "hello");
    send(&mut socket, json!({"type": "subscribe", "topics": topics}));
    let subscribed = next(&mut socket);
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    socket
}

/// The rows of `topic` (`key` in its events' data) received until `done` holds of
/// them (within 60 s; events of other topics are skipped).
fn rows_until(
    socket: &mut Socket,
    topic: &str,
    key: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "not all {topic} arrived: {} seen",
            seen.len()
        );
        let event = next(socket);
        assert_eq!(event["type"], "event", "{event}");
        if event["topic"] == topic {
            seen.extend(event["data"][key].as_array().cloned().unwrap_or_default());
        }
    }
    seen
}

/// Every text message received until nothing came for `quiet`.
fn messages_while_talking(socket: &mut Socket, quiet: Duration) -> Vec<Value> {
    if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(quiet)).expect("timeout");
    }
    let mut seen = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => {
                seen.push(serde_json::from_str(text.as_str()).expect("json"));
            }
            Ok(Message::Close(frame)) => panic!("closed: {frame:?}"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
    }
    seen
}

fn ids_of(rows: &[Value]) -> std::collections::BTreeSet<String> {
    rows.iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

both_backends!(
    new_events_and_alert_changes_reach_only_those_who_may_read_them,
    |db: TestDb| {
        let node = inventory_node(&db, "live")
            .env("STEWARD__EVENTS__BATCH_WINDOW", "100ms")
            .start();
        let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "20", "--seed", "5"]);
        add_payments_viewer(&node);
        let provider = add_sim(&node, "cluster", &sim);
        let pods = {
            let ok = wait_until(Duration::from_secs(60), || {
                pods_of(&node, &provider).len() >= 40
            });
            assert!(ok, "the first refresh");
            pods_of(&node, &provider)
        };
        let uid_in = |payments: bool| -> String {
            pods.iter()
                .find(|p| (p["namespace"] == "payments") == payments)
                .and_then(|p| p["ems_ref"].as_str())
                .expect("a pod")
                .to_string()
        };
        // The cluster's first events are stored before anyone listens: history.
        let ok = wait_until(Duration::from_secs(60), || {
            node.get_json("/api/event_streams")["subcount"].as_u64() > Some(0)
        });
        assert!(ok, "the first events\n{}", node.logs());
        let newest = node.get_json(
            "/api/event_streams?expand=resources&attributes=id&sort_by=id&sort_order=desc&limit=1",
        );
        let history: i64 = newest["resources"][0]["id"]
            .as_str()
            .and_then(|i| i.parse().ok())
            .expect("the newest event's id");
        let mut admin = subscribe_to(
            &node,
            &[("X-Auth-Token", &node.admin_token())],
            &["events", "alerts"],
        );
        let mut pat = subscribe_to(
            &node,
            &[("Authorization", &basic_auth("pat", "viewer-pw-1"))],
            &["events", "alerts"],
        );
        // The feed takes its baseline.
        std::thread::sleep(Duration::from_millis(800));
        let (inside, outside) = (uid_in(true), uid_in(false));
        for pod in [&inside, &outside] {
            let storm = sim.admin(
                "/_sim/storm",
                json!({"events": 3, "distinct": true, "pod": pod}),
            );
            assert!(storm["event_uid"].is_string(), "{storm}");
        }
        let backoffs = |rows: &[Value], pod: &str| {
            rows.iter()
                .filter(|r| r["target_ems_ref"] == pod && r["event_type"] == "POD_BACKOFF")
                .count()
        };
        let seen = rows_until(&mut admin, "events", "event_streams", |seen| {
            backoffs(seen, &inside) >= 3 && backoffs(seen, &outside) >= 3
        });
        let row = seen
            .iter()
            .find(|r| r["target_ems_ref"] == inside.as_str())
            .expect("a row");
        assert_eq!(row["provider_id"], provider.as_str(), "{row}");
        assert!(row["container_group_id"].is_string(), "linked: {row}");
        assert_eq!(row["container_namespace"], "payments", "{row}");
        let listed: Vec<Value> = node.get_json(&format!(
            "/api/event_streams?expand=resources&limit=1000&filter[]=provider_id={provider}"
        ))["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            ids_of(&seen).is_subset(&ids_of(&listed)),
            "what the feed sent is what the API lists"
        );
        let id_num = |r: &Value| r["id"].as_str().and_then(|i| i.parse::<i64>().ok());
        assert!(
            seen.iter().all(|r| id_num(r) > Some(history)),
            "events stored before the subscription are history"
        );

        // Pat receives the events of `payments` only.
        let got = rows_until(&mut pat, "events", "event_streams", |seen| {
            backoffs(seen, &inside) >= 3
        });
        let mut got_all = got.clone();
        for m in messages_while_talking(&mut pat, Duration::from_millis(1500)) {
            if m["topic"] == "events" {
                got_all.extend(
                    m["data"]["event_streams"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
        assert_eq!(
            backoffs(&got_all, &outside),
            0,
            "pat saw another project's event"
        );
        assert!(
            got_all
                .iter()
                .all(|r| r["container_namespace"] == "payments"),
            "pat saw events outside payments: {:?}",
            got_all
                .iter()
                .find(|r| r["container_namespace"] != "payments")
        );

        // An alert raised, then acknowledged: two versions, each sent once.
        let payload = json!({"version": "4", "status": "firing", "receiver": "x", "alerts": [{
            "status": "firing", "labels": {"alertname": "FeedCheck", "severity": "warning"},
            "annotations": {"description": "from the test"},
            "startsAt": "2026-11-21T16:50:58Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "feed0001"}]});
        let (status, reply) = node.post_json(
            &format!("/api/alertmanager?provider_id={provider}"),
            &payload,
        );
        assert_eq!(status, 200, "{reply}");
        let named = |rows: &[Value]| -> Vec<Value> {
            rows.iter()
                .filter(|a| a["name"] == "FeedCheck")
                .cloned()
                .collect()
        };
        let raised = rows_until(&mut admin, "alerts", "alerts", |seen| {
            !named(seen).is_empty()
        });
        let alert = named(&raised).remove(0);
        assert_eq!(alert["status"], "firing", "{alert}");
        assert_eq!(alert["acknowledged"], false, "{alert}");
        let id = alert["id"].as_str().expect("id").to_string();
        let (status, reply) = node.post_json(
            &format!("/api/alerts/{id}"),
            &json!({"action": "acknowledge"}),
        );
        assert_eq!(status, 200, "{reply}");
        let acked = rows_until(&mut admin, "alerts", "alerts", |seen| {
            named(seen).iter().any(|a| a["acknowledged"] == true)
        });
        assert_eq!(named(&acked).len(), 1, "one new version: {acked:?}");
        let later = messages_while_talking(&mut admin, Duration::from_millis(1500));
        assert!(
            !later.iter().any(|m| m["topic"] == "alerts"
                && m["data"]["alerts"]
                    .as_array()
                    .is_some_and(|a| !named(a).is_empty())),
            "a version is sent once: {later:?}"
        );
        // Pat may not read a provider's alert outside a project: the feed agrees.
        let pat_alerts = messages_while_talking(&mut pat, Duration::from_millis(500));
        let (status, pat_sees) = node.request(
            "GET",
            "/api/alerts?expand=resources&filter[]=name=FeedCheck",
            None,
            &[("Authorization", &basic_auth("pat", "viewer-pw-1"))],
        );
        assert_eq!(status, 200, "{pat_sees}");
        let pat_listed = pat_sees["resources"].as_array().map_or(0, Vec::len);
        let pat_got = pat_alerts
            .iter()
            .filter(|m| m["topic"] == "alerts")
            .flat_map(|m| m["data"]["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["name"] == "FeedCheck")
            .count();
        assert_eq!(
            pat_got.min(1),
            pat_listed,
            "the feed agrees with the API for pat"
        );
    }
);
