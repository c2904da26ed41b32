//! The room broker: one thread that owns every room, its members and its `k_auth`.
//!
//! Connection threads send it validated requests over a channel; it decides, stamps
//! relayed frames, encodes each once and hands the same bytes to every recipient's
//! [`Outbound`], which never blocks. Nothing here is ever printed or stored.

use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use zeroize::Zeroizing;

use crate::cli::{Limits, Moderation};
use crate::crypto;
use crate::protocol::{self, Code, LeftReason, Refusal, Request, close};
use crate::stats::Stats;
use crate::ws::frame;
use crate::ws::outbound::{Frame, Outbound};

pub type ConnId = u64;

/// A connection as the broker sees it: where to write, and the nonce its joins prove.
pub struct Conn {
    pub id: ConnId,
    pub out: Arc<Outbound>,
    pub nonce: [u8; 32],
}

/// What connection threads (and shutdown) tell the broker.
pub enum Event {
    /// Boxed: a bounded channel allocates and writes every slot up front, and slots
    /// sized for the largest request made the 4096-slot channel 416 KiB of resident
    /// memory at start; boxed, a slot is 32 bytes.
    Request(Arc<Conn>, Box<Request>),
    /// The connection ended, whatever the cause.
    Gone(ConnId),
    /// Purge every room, close every member, then answer on the channel.
    Shutdown(Sender<()>),
}

struct Member {
    conn: Arc<Conn>,
    alias: String,
}

struct Room {
    /// Wiped from memory when the room is dropped. Boxed, so that the one copy stays
    /// where it is: a room moved (the rooms' table grows, a room is removed) would
    /// leave its bytes behind in the table.
    k_auth: Box<Zeroizing<[u8; 32]>>,
    /// Who may kick and stop under `--moderation creator`; passes to the
    /// longest-present member when the creator leaves.
    creator: ConnId,
    members: Vec<Member>,
    seq: u64,
}

struct Broker {
    rooms: HashMap<String, Room>,
    /// Which room each joined connection is in.
    seats: HashMap<ConnId, String>,
    max_rooms: usize,
    max_members: usize,
    moderation: Moderation,
    stats: Arc<Stats>,
}

/// Starts the broker thread; the returned sender is the only way to reach the rooms.
pub fn start(
    limits: &Limits,
    moderation: Moderation,
    stats: Arc<Stats>,
) -> io::Result<Sender<Event>> {
    // Bounded, so a flood of readers waits for the broker rather than growing memory.
    let (tx, rx) = crossbeam_channel::bounded(4096);
    let broker = Broker {
        rooms: HashMap::new(),
        seats: HashMap::new(),
        max_rooms: limits.max_rooms,
        max_members: limits.max_members,
        moderation,
        stats,
    };
    std::thread::Builder::new()
        .name("broker".into())
        .stack_size(256 * 1024)
        .spawn(move || broker.run(&rx))?;
    Ok(tx)
}

fn encode(json: &str) -> Frame {
    frame::text(json).into()
}

/// Sends `f` to each of `to`; returns those whose queue overflowed (already killed).
fn deliver<'a>(to: impl Iterator<Item = &'a Member>, f: &Frame) -> Vec<ConnId> {
    to.filter(|m| m.conn.out.send(f).is_err())
        .map(|m| {
            m.conn.out.kill();
            m.conn.id
        })
        .collect()
}

/// Every member but `id`.
fn others(members: &[Member], id: ConnId) -> impl Iterator<Item = &Member> {
    members.iter().filter(move |m| m.conn.id != id)
}

impl Broker {
    fn run(mut self, rx: &Receiver<Event>) {
        for event in rx {
            let rooms = self.rooms.len();
            match event {
                Event::Request(conn, req) => self.handle(&conn, *req),
                Event::Gone(id) => self.leave(id, LeftReason::Gone, None),
                Event::Shutdown(done) => {
                    self.purge_all();
                    let _ = done.send(());
                    return;
                }
            }
            // A room ended: what handling its events left on this stack goes with it.
            if self.rooms.len() < rooms {
                crate::wipe::scrub_stack::<{ 64 * 1024 }>();
            }
        }
    }

    fn refuse(&mut self, conn: &Conn, r: Refusal) {
        if conn.out.send(&encode(&protocol::error(&r))).is_err() {
            conn.out.kill();
            self.leave(conn.id, LeftReason::Gone, None);
        }
    }

    fn handle(&mut self, conn: &Arc<Conn>, req: Request) {
        let result = match req {
            Request::Join { room, alias, proof } => {
                self.join(conn, room, alias, Credential::Proof(proof))
            }
            Request::Create { room, alias, auth } => {
                self.join(conn, room, alias, Credential::Auth(auth))
            }
            Request::Msg { body } => self.relay(conn, None, &body),
            Request::Purr { to, body } => self.relay(conn, Some(&to), &body),
            Request::Kick { alias } => self.kick(conn, &alias),
            Request::Stop => self.stop(conn),
            Request::Exit { body } => self.exit(conn, body.as_deref()),
        };
        if let Err(r) = result {
            self.refuse(conn, r);
        }
    }

    fn join(
        &mut self,
        conn: &Arc<Conn>,
        room_id: String,
        alias: String,
        cred: Credential,
    ) -> Result<(), Refusal> {
        if self.seats.contains_key(&conn.id) {
            return Err(Refusal::new(
                Code::AlreadyJoined,
                "this connection is already in a room",
            ));
        }
        let created = !self.rooms.contains_key(&room_id);
        if created {
            let Credential::Auth(auth) = cred else {
                return Err(Refusal::new(
                    Code::NoRoom,
                    "no such room; send create to make it",
                ));
            };
            if self.rooms.len() >= self.max_rooms {
                return Err(Refusal::new(
                    Code::ServerFull,
                    "the server has as many rooms as it may hold",
                ));
            }
            let room = Room {
                k_auth: Box::new(Zeroizing::new(auth)),
                creator: conn.id,
                members: Vec::new(),
                seq: 0,
            };
            self.rooms.insert(room_id.clone(), room);
            self.stats.add_room(1);
        }
        let room = self
            .rooms
            .get_mut(&room_id)
            .ok_or(Refusal::new(Code::NoRoom, "no such room"))?;
        let proven = match cred {
            Credential::Proof(proof) => {
                crypto::verify_join_proof(&room.k_auth, &conn.nonce, &room_id, &alias, &proof)
            }
            Credential::Auth(auth) => crypto::ct_eq(&auth, &room.k_auth[..]),
        };
        if !proven {
            let r = Refusal::new(Code::BadProof, "wrong room secret");
            let _ = conn.out.send(&encode(&protocol::error(&r)));
            conn.out.close(close::BAD_PROOF, "wrong room secret");
            return Ok(());
        }
        if room
            .members
            .iter()
            .any(|m| m.alias.eq_ignore_ascii_case(&alias))
        {
            return Err(Refusal::new(
                Code::AliasTaken,
                "someone in this room already has that alias",
            ));
        }
        if room.members.len() >= self.max_members {
            return Err(Refusal::new(Code::RoomFull, "this room is full"));
        }
        room.members.push(Member {
            conn: conn.clone(),
            alias: alias.clone(),
        });
        self.seats.insert(conn.id, room_id.clone());
        self.stats.add_member(1);
        let aliases: Vec<&str> = room.members.iter().map(|m| m.alias.as_str()).collect();
        let creator = room
            .members
            .iter()
            .find(|m| m.conn.id == room.creator)
            .map_or("", |m| m.alias.as_str());
        let welcome = protocol::welcome(&protocol::Welcome {
            room: &room_id,
            alias: &alias,
            members: &aliases,
            created,
            creator,
        });
        let joined = encode(&protocol::joined(&alias));
        let mut dropped = deliver(others(&room.members, conn.id), &joined);
        if conn.out.send(&encode(&welcome)).is_err() {
            conn.out.kill();
            dropped.push(conn.id);
        }
        self.evict(dropped);
        Ok(())
    }

    /// The room a connection sits in, or `not_joined`.
    fn seat(&mut self, id: ConnId) -> Result<(&str, &mut Room), Refusal> {
        let not_joined = Refusal::new(Code::NotJoined, "join a room first");
        let room_id = self.seats.get(&id).ok_or(not_joined.clone())?;
        let room = self.rooms.get_mut(room_id).ok_or(not_joined)?;
        Ok((room_id.as_str(), room))
    }

    fn alias_of(room: &Room, id: ConnId) -> String {
        room.members
            .iter()
            .find(|m| m.conn.id == id)
            .map(|m| m.alias.clone())
            .unwrap_or_default()
    }

    fn relay(&mut self, conn: &Conn, to: Option<&str>, body: &str) -> Result<(), Refusal> {
        let (_, room) = self.seat(conn.id)?;
        let target = match to {
            Some(to) => Some(
                room.members
                    .iter()
                    .find(|m| m.alias == to)
                    .map(|m| m.conn.id)
                    .ok_or(Refusal::new(
                        Code::NoMember,
                        "nobody in this room has that alias",
                    ))?,
            ),
            None => None,
        };
        room.seq += 1;
        let from = room
            .members
            .iter()
            .find(|m| m.conn.id == conn.id)
            .map_or("", |m| m.alias.as_str());
        let f = encode(&protocol::relayed(
            from,
            to,
            body,
            protocol::now_ms(),
            room.seq,
        ));
        let dropped = match target {
            None => deliver(room.members.iter(), &f),
            Some(target) => {
                let pair = room
                    .members
                    .iter()
                    .filter(|m| m.conn.id == target || m.conn.id == conn.id);
                deliver(pair, &f)
            }
        };
        self.evict(dropped);
        Ok(())
    }

    fn kick(&mut self, conn: &Conn, alias: &str) -> Result<(), Refusal> {
        let moderation = self.moderation;
        let (_, room) = self.seat(conn.id)?;
        let by = Self::alias_of(room, conn.id);
        if by.eq_ignore_ascii_case(alias) {
            return Err(Refusal::new(
                Code::SelfKick,
                "you cannot kick yourself; use /exit",
            ));
        }
        check_moderator(moderation, room, conn.id)?;
        let victim = room
            .members
            .iter()
            .find(|m| m.alias == alias)
            .map(|m| m.conn.clone())
            .ok_or(Refusal::new(
                Code::NoMember,
                "nobody in this room has that alias",
            ))?;
        let dropped = deliver(room.members.iter(), &encode(&protocol::kicked(alias, &by)));
        victim.out.close(close::KICKED, "kicked");
        self.remove(victim.id);
        self.evict(dropped);
        Ok(())
    }

    fn stop(&mut self, conn: &Conn) -> Result<(), Refusal> {
        let moderation = self.moderation;
        let (room_id, room) = self.seat(conn.id)?;
        check_moderator(moderation, room, conn.id)?;
        let room_id = room_id.to_owned();
        if let Some(room) = self.rooms.remove(&room_id) {
            let by = Self::alias_of(&room, conn.id);
            self.purge(room, Some(&by), close::PURGED, "room stopped");
        }
        Ok(())
    }

    /// Tells every member the room is gone, closes them all, and drops the room
    /// (its `k_auth` is zeroized by `Zeroizing`'s drop).
    fn purge(&mut self, room: Room, by: Option<&str>, code: u16, reason: &str) {
        let f = encode(&protocol::purged(by));
        for m in &room.members {
            if m.conn.out.send(&f).is_ok() {
                m.conn.out.close(code, reason);
            } else {
                m.conn.out.kill();
            }
            self.seats.remove(&m.conn.id);
        }
        self.stats.add_member(-(room.members.len() as isize));
        self.stats.add_room(-1);
    }

    fn purge_all(&mut self) {
        let rooms: Vec<Room> = self.rooms.drain().map(|(_, r)| r).collect();
        for room in rooms {
            self.purge(room, None, close::GOING_AWAY, "server shutting down");
        }
    }

    fn exit(&mut self, conn: &Conn, body: Option<&str>) -> Result<(), Refusal> {
        self.seat(conn.id)?;
        conn.out.close(close::NORMAL, "bye");
        self.leave(conn.id, LeftReason::Exit, body);
        Ok(())
    }

    /// Takes a member out of its room without telling anyone; forgets the room
    /// when it was the last. Returns the room id and the member's alias.
    fn remove(&mut self, id: ConnId) -> Option<(String, String)> {
        let room_id = self.seats.remove(&id)?;
        let room = self.rooms.get_mut(&room_id)?;
        let idx = room.members.iter().position(|m| m.conn.id == id)?;
        let member = room.members.remove(idx);
        self.stats.add_member(-1);
        if room.members.is_empty() {
            self.rooms.remove(&room_id);
            self.stats.add_room(-1);
        } else if room.creator == id {
            room.creator = room.members[0].conn.id;
        }
        Some((room_id, member.alias))
    }

    /// Removes a member and tells the others why it left.
    fn leave(&mut self, id: ConnId, reason: LeftReason, body: Option<&str>) {
        let Some((room_id, alias)) = self.remove(id) else {
            return;
        };
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        let dropped = deliver(
            room.members.iter(),
            &encode(&protocol::left(&alias, reason, body)),
        );
        self.evict(dropped);
    }

    /// Members whose queue overflowed are already killed; announce them as gone
    /// (which may overflow others in turn, hence the loop inside `leave`).
    fn evict(&mut self, ids: Vec<ConnId>) {
        for id in ids {
            self.leave(id, LeftReason::Gone, None);
        }
    }
}

/// Under `--moderation creator` only the room's creator may kick and stop.
fn check_moderator(moderation: Moderation, room: &Room, id: ConnId) -> Result<(), Refusal> {
    if moderation == Moderation::Creator && room.creator != id {
        return Err(Refusal::new(
            Code::NotAllowed,
            "only the room's creator may do that here",
        ));
    }
    Ok(())
}

enum Credential {
    /// A join: HMAC proof over this connection's nonce.
    Proof([u8; 32]),
    /// A create: the room's `k_auth` itself.
    Auth([u8; 32]),
}
