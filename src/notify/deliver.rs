//! Delivering one notification: a webhook POST (reqwest, no redirects followed, so
//! the body goes nowhere but the URL the policy names) or an e-mail through the
//! configured SMTP server (lettre).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::store::{Due, KIND_EMAIL, KIND_WEBHOOK};
use crate::settings::NotifierSettings;

/// What delivers notifications; built once per notifier.
pub struct Deliverer {
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    smtp_problem: String,
    from: String,
}

fn smtp_transport(s: &NotifierSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    if s.smtp_host.trim().is_empty() {
        return Err("no SMTP server is configured (notifier.smtp_host)".into());
    }
    let host = s.smtp_host.trim();
    let builder = match s.smtp_tls.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?,
        "starttls" => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| e.to_string())?
        }
        _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let mut builder = builder.port(s.smtp_port).timeout(Some(s.webhook_timeout));
    if !s.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            s.smtp_username.clone(),
            s.smtp_password.expose_secret().to_string(),
        ));
    }
    Ok(builder.build())
}

impl Deliverer {
    pub fn new(s: &NotifierSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(s.webhook_timeout.min(Duration::from_secs(10)))
            .timeout(s.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let (smtp, smtp_problem) = match smtp_transport(s) {
            Ok(t) => (Some(t), String::new()),
            Err(why) => (None, why),
        };
        Ok(Self {
            http,
            smtp,
            smtp_problem,
            from: s.from.clone(),
        })
    }

    /// Delivers `n`; the answer (HTTP status, SMTP reply) or why it failed.
    pub async fn deliver(&self, n: &Due) -> Result<String, String> {
        match n.kind.as_str() {
            KIND_WEBHOOK => self.webhook(n).await,
            KIND_EMAIL => self.email(n).await,
            other => Err(format!("unknown notification kind `{other}`")),
        }
    }

    async fn webhook(&self, n: &Due) -> Result<String, String> {
        let answer = self
            .http
            .post(&n.target)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(n.body.clone())
            .send()
            .await
            .map_err(|e| {
                // The cause, without the URL's query (it may carry a token).
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                format!("{what}: {}", crate::text::elide(&root_cause(&e), 200))
            })?;
        let status = answer.status();
        if status.is_success() {
            Ok(format!("HTTP {}", status.as_u16()))
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }

    async fn email(&self, n: &Due) -> Result<String, String> {
        let Some(smtp) = &self.smtp else {
            return Err(self.smtp_problem.clone());
        };
        let from = self
            .from
            .parse()
            .map_err(|e| format!("sender address: {e}"))?;
        let mut builder = Message::builder().from(from).subject(n.subject.clone());
        for to in n.target.split(',').filter(|t| !t.trim().is_empty()) {
            builder = builder.to(to
                .trim()
                .parse()
                .map_err(|e| format!("recipient address: {e}"))?);
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(n.body.clone())
            .map_err(|e| format!("cannot build the e-mail: {e}"))?;
        let reply = smtp
            .send(message)
            .await
            .map_err(|e| format!("SMTP: {}", crate::text::elide(&e.to_string(), 200)))?;
        Ok(format!("SMTP {}", reply.code()))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
