//! The live feed behind `GET /ws`: a node's [`Hub`] numbers and fans out what happens
//! (queue statistics, server changes, refreshes, inventory changes, tasks, events and
//! alerts), each websocket client converses
//! through [`socket::converse`], and [`LiveFeeds`] publishes what the database says
//! while anyone listens.

pub mod feed;
pub mod hub;
pub mod inventory;
pub mod records;
pub mod socket;
pub mod tail;
pub mod transport;

pub use feed::LiveFeeds;
pub use hub::{Hub, Topic};
