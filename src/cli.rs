//! Command-line flags, their defaults (fit for a Raspberry Pi Zero W) and the limits
//! they turn into.

use clap::{Args, Parser, ValueEnum};
use std::net::IpAddr;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "sanctuary",
    version,
    about = "Ephemeral end-to-end encrypted LAN chat. Nothing is logged; rooms live in memory only."
)]
pub struct Cli {
    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Join a room from the terminal
    Join(crate::term::JoinArgs),
}

/// Who may use `kick` and `stop` in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Moderation {
    /// Every member (as in the original Sanctuary).
    Anyone,
    /// Only the member who created the room (passed on if they leave).
    Creator,
}

impl Moderation {
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::Anyone => "anyone",
            Moderation::Creator => "creator",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Port of the web page (0 picks a free port).
    #[arg(
        long = "http-port",
        short = 's',
        visible_alias = "servport",
        default_value_t = 6969
    )]
    pub http_port: u16,

    /// Port of the WebSocket chat endpoint (0 picks a free port).
    #[arg(
        long = "ws-port",
        short = 'c',
        visible_alias = "chatport",
        default_value_t = 9696
    )]
    pub ws_port: u16,

    /// Address to listen on; repeat for several. Default: every interface, IPv4 and IPv6.
    #[arg(long = "bind", value_name = "ADDR")]
    pub bind: Vec<IpAddr>,

    /// Listen on IPv4 only.
    #[arg(short = '4', long = "ipv4", conflicts_with_all = ["ipv6", "bind"])]
    pub ipv4: bool,

    /// Listen on IPv6 only.
    #[arg(short = '6', long = "ipv6", conflicts_with = "bind")]
    pub ipv6: bool,

    /// Most WebSocket connections at once. 128 keeps the worst case (every connection
    /// at its bounds, 620.5 KiB each: see the README) at 78 MiB, inside the systemd
    /// unit's MemoryMax=128M; 512 would be 311 MiB.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Most WebSocket connections from one client address.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_ip: u32,

    /// Most rooms at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms: u32,

    /// Most members in one room.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_members: u32,

    /// Largest WebSocket message in bytes (bigger: closed with 1009).
    #[arg(long, default_value_t = 65536, value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub max_message_bytes: u32,

    /// Messages per second per connection.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,

    /// Messages a connection may send at once before the rate applies.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Frames queued for a client that reads slowly before it is disconnected.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(8..))]
    pub queue_frames: u32,

    /// Bytes a client may leave unread (queued, and in the kernel send buffer) before it
    /// is disconnected.
    #[arg(long, default_value_t = 256 * 1024, value_parser = clap::value_parser!(u32).range(64 * 1024..))]
    pub queue_bytes: u32,

    /// Another browser origin allowed to open chats (e.g. http://chat.lan:6969); repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,

    /// Where browsers open the chat when it is not `ws://HOST:WS_PORT/ws` of the page's
    /// host: behind a reverse proxy that terminates TLS, e.g. wss://chat.example.org/ws.
    /// The page gets it from /config.json.
    #[arg(long = "public-ws-url", value_name = "URL", value_parser = public_ws_url)]
    pub public_ws_url: Option<String>,

    /// Who may kick members and stop rooms.
    #[arg(long, value_enum, default_value_t = Moderation::Anyone)]
    pub moderation: Moderation,

    /// Seconds a client has to finish the WebSocket handshake.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout: u64,

    /// A name this server answers to besides its addresses, `localhost` and its host
    /// name (for DNS names or a reverse proxy); repeatable.
    #[arg(long = "hostname", value_name = "NAME")]
    pub hostname: Vec<String>,

    /// Most connections to the page port at once (the longest idle gives way).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections: u32,

    /// Most page-port connections from one client address (an IPv6 /64 is one address).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_per_ip: u32,

    /// Seconds a page-port connection has to send a whole request.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,

    /// Seconds between pings to each client.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_interval: u64,

    /// Seconds without any frame (pongs included) before a client is dropped.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
}

/// `--public-ws-url`: a ws:// or wss:// URL with a host, and nothing that would need
/// escaping in JSON (it goes into /config.json as it is).
fn public_ws_url(value: &str) -> Result<String, String> {
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("wss://")
        .or_else(|| lower.strip_prefix("ws://"))
        .ok_or("the URL must start with ws:// or wss://")?;
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') {
        return Err("the URL needs a host, e.g. wss://chat.example.org/ws".into());
    }
    if value.len() > 2048 {
        return Err("the URL is longer than 2048 characters".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\\' | '<' | '>' | '#'))
    {
        return Err(format!("the URL may not contain {c:?}"));
    }
    Ok(value.to_owned())
}

/// The limits the server enforces, all from flags.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub max_rooms: usize,
    pub max_members: usize,
    pub max_message_bytes: usize,
    pub rate: u32,
    pub burst: u32,
    pub queue_frames: usize,
    pub queue_bytes: usize,
    pub handshake_timeout: Duration,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

impl ServeArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections as usize,
            max_per_ip: self.max_per_ip as usize,
            max_rooms: self.max_rooms as usize,
            max_members: self.max_members as usize,
            max_message_bytes: self.max_message_bytes as usize,
            rate: self.rate,
            burst: self.burst,
            queue_frames: self.queue_frames as usize,
            queue_bytes: self.queue_bytes as usize,
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            ping_interval: Duration::from_secs(self.ping_interval),
            idle_timeout: Duration::from_secs(self.idle_timeout),
        }
    }

    /// The page port's limits.
    pub fn http_limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            max_connections: self.http_max_connections as usize,
            max_per_ip: self.http_max_per_ip as usize,
            request_timeout: Duration::from_secs(self.request_timeout),
            // A page file is tens of kilobytes: a reader slower than that is not a browser.
            response_timeout: Duration::from_secs(10),
        }
    }

    /// Where to listen: `--bind`, or every interface of the chosen families.
    pub fn addresses(&self) -> Vec<IpAddr> {
        use std::net::{Ipv4Addr, Ipv6Addr};
        if !self.bind.is_empty() {
            return self.bind.clone();
        }
        match (self.ipv4, self.ipv6) {
            (true, _) => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            (_, true) => vec![IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
            _ => vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sanctuary").chain(args.iter().copied()))
    }

    #[test]
    fn join_takes_room_ids_and_aliases_that_start_with_a_dash() {
        let cli = parse(&[
            "join",
            "--server",
            "pi.lan",
            "--room",
            "-AAAAAAAAAAAAAAAAAAAAA",
            "--alias",
            "-bob",
        ])
        .expect("a leading dash is part of the value");
        let Some(Command::Join(join)) = cli.command else {
            panic!("not parsed as join");
        };
        assert_eq!(join.room.as_deref(), Some("-AAAAAAAAAAAAAAAAAAAAA"));
        assert_eq!(join.alias, "-bob");
    }

    #[test]
    fn defaults_are_the_originals_ports_on_both_families() {
        let cli = parse(&[]).expect("no flags is valid");
        assert_eq!((cli.serve.http_port, cli.serve.ws_port), (6969, 9696));
        assert_eq!(cli.serve.addresses().len(), 2);
        assert_eq!(cli.serve.moderation, Moderation::Anyone);
    }

    #[test]
    fn the_originals_flag_names_still_work() {
        let cli = parse(&["-s", "8080", "--chatport", "8081", "-4"]).expect("valid");
        assert_eq!((cli.serve.http_port, cli.serve.ws_port), (8080, 8081));
        assert_eq!(
            cli.serve.addresses(),
            vec!["0.0.0.0".parse::<IpAddr>().expect("ip")]
        );
        assert!(parse(&["--servport", "1", "-c", "2", "-6"]).is_ok());
    }

    #[test]
    fn contradictory_or_nonsense_flags_are_refused() {
        assert!(parse(&["-4", "-6"]).is_err());
        assert!(parse(&["--max-members", "0"]).is_err());
        assert!(parse(&["--bind", "not-an-ip"]).is_err());
        assert!(parse(&["--moderation", "nobody"]).is_err());
        assert!(parse(&["--queue-bytes", "4096"]).is_err());
    }

    #[test]
    fn a_public_ws_url_must_be_a_websocket_url_safe_to_put_in_json() {
        assert_eq!(parse(&[]).expect("valid").serve.public_ws_url, None);
        let ok = parse(&["--public-ws-url", "wss://chat.example.org:8443/ws"]).expect("valid");
        assert_eq!(
            ok.serve.public_ws_url.as_deref(),
            Some("wss://chat.example.org:8443/ws")
        );
        assert!(parse(&["--public-ws-url", "ws://[fe80::1]:9696/ws"]).is_ok());
        for bad in [
            "https://chat.example.org/ws",
            "wss://",
            "wss:///ws",
            "wss://chat.example.org/ws\"x",
            "wss://chat example/ws",
            "wss://chat.example.org/ws#frag",
            "wss://chat.example.org/\\ws",
        ] {
            assert!(parse(&["--public-ws-url", bad]).is_err(), "{bad} accepted");
        }
    }
}
