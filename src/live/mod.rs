//! The live feed behind `GET /ws`: a node's [`Hub`] numbers and fans out what happens
//! (queue statistics for now), each websocket client converses through
//! [`socket::converse`], and [`QueueFeed`] publishes the queue's counts while anyone
//! listens.

pub mod feed;
pub mod hub;
pub mod socket;

pub use feed::QueueFeed;
pub use hub::{Hub, Topic};
