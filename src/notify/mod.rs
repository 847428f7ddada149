//! Notifications (role `notifier`, one server per region): webhooks and e-mails put in
//! the outbox by event policies, delivered with retries and backoff; every attempt and
//! its outcome is recorded, nothing is dropped silently, and a target that stays down
//! is reported as an alert of its own.

mod deliver;
mod notifier;
mod store;

pub use deliver::Deliverer;
pub use notifier::Notifier;
pub use store::{
    Attempt, Due, KIND_EMAIL, KIND_WEBHOOK, NewNotification, due, enqueue, record_attempt,
};
