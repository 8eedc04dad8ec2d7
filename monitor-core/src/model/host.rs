//! Facts about a host and its containers, reported besides the metrics.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Static facts about the host, reported with each snapshot by the system
/// collector.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostInfo {
    /// The host name.
    pub hostname: String,
    /// Operating system name and version (`Debian GNU/Linux 12 (bookworm)`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// Kernel version (`6.1.0-18-amd64`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel: String,
    /// CPU architecture (`x86_64`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// When the host booted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub boot_time: Option<Timestamp>,
    /// Version of the agent that sent the snapshot.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_version: String,
}

/// The lifecycle state of a container, as Docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused (frozen).
    Paused,
    /// Restarting after an exit, by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Stopped.
    Exited,
    /// Dead (failed removal).
    Dead,
    /// Anything else.
    #[default]
    #[serde(other)]
    Unknown,
}

impl ContainerState {
    /// Parses Docker's word for the state; unknown words give [`ContainerState::Unknown`].
    pub fn from_docker(state: &str) -> Self {
        match state {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    /// The state as Docker writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }
}

/// The result of a container's health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContainerHealth {
    /// The check has not passed yet.
    Starting,
    /// The last checks passed.
    Healthy,
    /// The check failed its retries.
    Unhealthy,
}

/// What is known about one container besides its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerInfo {
    /// The full container id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// The image reference the container was created from.
    pub image: String,
    /// Lifecycle state.
    pub state: ContainerState,
    /// Docker's status text (`Up 5 minutes`, `Exited (0) 2 hours ago`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Health check result, when the container has a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub health: Option<ContainerHealth>,
    /// How many times Docker restarted it.
    #[serde(default)]
    pub restart_count: u64,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub created: Option<Timestamp>,
    /// When it last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub started: Option<Timestamp>,
    /// Exit code of the last run, for stopped containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub exit_code: Option<i64>,
    /// True when the kernel killed it for lack of memory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
}

/// One process of a host's top lists (the busiest by CPU and the largest
/// by memory), as `top` shows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// The process's name (`comm`: at most 15 bytes, as `top` shows it).
    pub name: String,
    /// The owner's user name, or the uid in digits when it has none.
    #[serde(default)]
    pub user: String,
    /// CPU used since the previous scan, in percent of one core (200 is two
    /// full cores); absent on an agent's first scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub cpu_percent: Option<f64>,
    /// Resident memory, bytes.
    #[serde(default)]
    pub rss_bytes: u64,
    /// The command line, arguments joined by spaces, cut to 255 bytes;
    /// empty for a kernel thread.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
}
