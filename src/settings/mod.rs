//! Node settings: layered YAML (`settings/default.yaml` built in → the node's file →
//! `STEWARD__SECTION__KEY` environment variables), parsed once at the edge into typed
//! [`Settings`]. Every error names the key and where its value came from.

mod error;
mod human;
mod load;
mod model;
mod reader;
mod render;

pub use error::SettingsError;
pub use human::{format_duration, format_size, parse_duration, parse_size};
pub use load::{DEFAULT_YAML, Settings, SettingsSources, default_settings_files};
pub use model::{
    AlertSettings, ApiSettings, DatabaseSettings, DatabaseUrl, EventSettings, LogFormat,
    LogSettings, MetricsSettings, NotifierSettings, ProviderSettings, QueueSettings,
    RefreshSettings, RoleSettings, ServerSettings, SupervisionSettings, WebSettings,
    WebsocketSettings, WorkerTypeSettings,
};
pub use render::render_masked;
