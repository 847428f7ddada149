//! A real browser for tests and benchmarks: Debian's chromium driven through
//! chromedriver (both installed by `scripts/test-deps`) with fantoccini, and the steps
//! the console's tests share (wait for a condition in the page, type, click, log in).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// chromedriver on a free port, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver, installed by scripts/test-deps)");
    let url = format!("http://127.0.0.1:{port}");
    let ready = super::wait_until(Duration::from_secs(30), || {
        super::http_get(&format!("{url}/status")).0 == 200
    });
    assert!(ready, "chromedriver did not start on {url}");
    Driver { child, url }
}

pub async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,960", "--lang=en-GB"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

pub fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// The browser under test, with the helpers the steps share.
pub struct Page {
    pub c: Client,
    pub label: String,
}

impl Page {
    /// Navigates inside the page (as a link would): no reload.
    pub async fn follow(&self, hash: &str) {
        self.js(&format!("location.hash = {}", json!(hash))).await;
    }

    pub async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.expect("script")
    }

    pub async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(shots_dir().join(format!("{}-{name}.png", self.label)), png)
            .expect("write screenshot");
    }

    /// Waits until `script` (an expression) is truthy; the last value on failure.
    pub async fn until(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(&format!("return ({script});")).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if start.elapsed() > timeout {
                let main = self
                    .js("return document.getElementById('main').innerText")
                    .await;
                self.shot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                panic!(
                    "{}: {what} did not happen within {timeout:?}; page shows: {main}",
                    self.label
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.c.find(Locator::Css(css)).await.expect(css);
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Clicks the element `css` names. The console re-renders rows and headers as live
    /// updates and debounced searches land, so an element found may be replaced before
    /// the click reaches it: it is then found again (a few times, then the test fails).
    pub async fn click(&self, css: &str) {
        let mut last = None;
        for _ in 0..10 {
            match self.c.find(Locator::Css(css)).await {
                Ok(el) => match el.click().await {
                    Ok(()) => return,
                    Err(e) => last = Some(e.to_string()),
                },
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{}: cannot click {css}: {last:?}", self.label);
    }

    pub async fn login(&self, user: &str, password: &str) {
        self.until("login form", "document.querySelector('#login')", secs(20))
            .await;
        self.fill("#userid", user).await;
        self.fill("#password", password).await;
        self.click("#login button[type=submit]").await;
        self.until(
            "logged in",
            &format!("document.querySelector('#who .user') && document.querySelector('#who .user').textContent.length > 0 && {}", json!(user)),
            secs(20),
        )
        .await;
    }

    /// The texts of a column of the table shown.
    pub async fn column(&self, index: usize) -> Vec<String> {
        let v = self
            .js(&format!(
                "return [...document.querySelectorAll('table.data tbody tr')].map(r => r.children[{index}] ? r.children[{index}].textContent : '')"
            ))
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs a browser walk to its end on a runtime of its own (the tests are synchronous).
pub fn run<F: std::future::Future>(walk: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(walk)
}

/// The backend's name, for screenshot file names.
pub fn label(db: &super::TestDb) -> &'static str {
    match db.backend {
        super::Backend::Sqlite => "sqlite",
        super::Backend::Postgres => "postgres",
    }
}
