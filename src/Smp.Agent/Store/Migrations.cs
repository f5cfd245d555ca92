using Microsoft.Data.Sqlite;

namespace Smp.Agent.Store;

/// <summary>
/// Schema migrations, applied in order; <c>PRAGMA user_version</c> records how many ran. Append only:
/// a released migration is never edited, because databases in the field already ran it.
/// </summary>
internal static class Migrations
{
    public static readonly string[] Steps =
    [
        // 1: connections, queues, the outbox of jobs, pending client events, received-message dedupe.
        """
        CREATE TABLE connections (
            alias TEXT PRIMARY KEY,
            kind INTEGER NOT NULL,                   -- ConnectionKind
            status INTEGER NOT NULL,                 -- ConnectionStatus
            created_at TEXT NOT NULL,
            last_internal_id INTEGER NOT NULL DEFAULT 0,
            last_snd_id INTEGER NOT NULL DEFAULT 0,
            last_snd_hash BLOB NOT NULL DEFAULT x'',
            last_ext_snd_id INTEGER NOT NULL DEFAULT 0,
            last_rcv_hash BLOB NOT NULL DEFAULT x'',
            join_corr_id TEXT NOT NULL DEFAULT '',
            owner TEXT NOT NULL DEFAULT ''           -- group id for group connections, else ''
        ) WITHOUT ROWID;

        CREATE TABLE rcv_queues (
            alias TEXT PRIMARY KEY REFERENCES connections(alias) ON DELETE CASCADE,
            server TEXT NOT NULL,
            rcv_id BLOB NOT NULL,
            snd_id BLOB NOT NULL,
            rcv_key BLOB NOT NULL,                   -- PKCS#8 private key, signs recipient commands
            decrypt_key BLOB NOT NULL,               -- PKCS#8 private key, opens envelopes
            encrypt_key BLOB NOT NULL,               -- its public half, given in the invitation
            sender_key BLOB,                         -- SPKI from the confirmation, set with KEY
            verify_key BLOB,                         -- SPKI from HELLO
            status INTEGER NOT NULL,                 -- QueueStatus
            UNIQUE (server, rcv_id)
        ) WITHOUT ROWID;

        CREATE TABLE snd_queues (
            alias TEXT PRIMARY KEY REFERENCES connections(alias) ON DELETE CASCADE,
            server TEXT NOT NULL,
            snd_id BLOB NOT NULL,
            snd_key BLOB NOT NULL,                   -- PKCS#8 private key, signs SEND
            encrypt_key BLOB NOT NULL,               -- peer's SPKI, seals envelopes
            sign_key BLOB NOT NULL,                  -- PKCS#8 private key, signs envelopes
            status INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alias TEXT NOT NULL REFERENCES connections(alias) ON DELETE CASCADE,
            kind INTEGER NOT NULL,                   -- JobKind
            corr_id TEXT NOT NULL DEFAULT '',
            msg_id INTEGER NOT NULL DEFAULT 0,       -- agent message id for SENT
            body BLOB NOT NULL DEFAULT x'',
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE INDEX jobs_alias ON jobs(alias, id);

        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alias TEXT NOT NULL,
            corr_id TEXT NOT NULL DEFAULT '',
            payload BLOB NOT NULL
        );
        CREATE INDEX events_alias ON events(alias, id);

        CREATE TABLE rcv_seen (
            alias TEXT NOT NULL REFERENCES connections(alias) ON DELETE CASCADE,
            broker_id BLOB NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (alias, broker_id)
        ) WITHOUT ROWID;
        """,

        // 2: groups (groups.md): the group, its members as this agent knows them, invitations received,
        // introductions this agent runs as inviter, and group message ids seen per member.
        """
        CREATE TABLE groups (
            alias TEXT PRIMARY KEY,
            group_id BLOB NOT NULL UNIQUE,
            member_id BLOB NOT NULL,
            clvl INTEGER NOT NULL,
            info BLOB NOT NULL,
            status INTEGER NOT NULL,                 -- GroupStatus
            inviter_conn TEXT NOT NULL DEFAULT '',   -- group connection to our inviter, '' for the creator
            last_seq INTEGER NOT NULL DEFAULT 0,
            last_hash BLOB NOT NULL DEFAULT x'',
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE members (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_alias TEXT NOT NULL REFERENCES groups(alias) ON DELETE CASCADE,
            member_id BLOB,                          -- NULL until our inviter's G_HELLO tells it
            direct_alias TEXT NOT NULL DEFAULT '',
            group_conn TEXT NOT NULL DEFAULT '',
            clvl INTEGER NOT NULL,
            status INTEGER NOT NULL,                 -- MemberStatus
            invited_by_us INTEGER NOT NULL DEFAULT 0,
            inv_id BLOB,
            intro_id BLOB,
            introducer_conn TEXT NOT NULL DEFAULT '',
            hello_sent INTEGER NOT NULL DEFAULT 0,
            all_sent INTEGER NOT NULL DEFAULT 0,
            last_seq INTEGER NOT NULL DEFAULT 0,
            last_hash BLOB NOT NULL DEFAULT x''
        );
        CREATE UNIQUE INDEX members_id ON members(group_alias, member_id);
        CREATE INDEX members_conn ON members(group_conn);

        CREATE TABLE invitations (
            inv_id BLOB PRIMARY KEY,
            direct_alias TEXT NOT NULL,
            group_id BLOB NOT NULL,
            member_id BLOB NOT NULL,
            clvl INTEGER NOT NULL,
            queue_info TEXT NOT NULL,
            info BLOB NOT NULL,
            status INTEGER NOT NULL,                 -- InvitationStatus
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE introductions (
            group_alias TEXT NOT NULL REFERENCES groups(alias) ON DELETE CASCADE,
            intro_id BLOB NOT NULL,
            invitee INTEGER NOT NULL,                -- members.id of the new member
            member INTEGER NOT NULL,                 -- members.id of the existing member
            status INTEGER NOT NULL,                 -- IntroductionStatus
            con_invitee INTEGER NOT NULL DEFAULT 0,
            con_member INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (group_alias, intro_id)
        ) WITHOUT ROWID;

        CREATE TABLE group_seen (
            member INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            msg_id BLOB NOT NULL,
            PRIMARY KEY (member, msg_id)
        ) WITHOUT ROWID;
        """,

        // 3: recent receive chain positions per connection (agent.md §4), so that every envelope of a sender's
        // window sent again after a lost connection or a crash is dropped, not only the last one received;
        // and envelopes held until the chain reaches them.
        """
        CREATE TABLE rcv_chain (
            alias TEXT NOT NULL REFERENCES connections(alias) ON DELETE CASCADE,
            snd_id INTEGER NOT NULL,                 -- the sender's message id (chain position)
            hash BLOB NOT NULL,                      -- SHA-256 of the envelope's plaintext
            PRIMARY KEY (alias, snd_id)
        ) WITHOUT ROWID;

        -- Envelopes received ahead of the chain (a window reordered by a full queue), decrypted and checked,
        -- waiting for the ones before them; already ACKed on the server.
        CREATE TABLE rcv_held (
            alias TEXT NOT NULL REFERENCES connections(alias) ON DELETE CASCADE,
            snd_id INTEGER NOT NULL,
            hash BLOB NOT NULL,
            broker_id BLOB NOT NULL,
            broker_ts TEXT NOT NULL,
            plaintext BLOB NOT NULL,
            held_at TEXT NOT NULL,
            PRIMARY KEY (alias, snd_id)
        ) WITHOUT ROWID;
        """,

        // 4: pregenerated keys (agent.md, "Key pool"), so a restarted agent has them at once. A row leaves
        // in the transaction that stores its key in a queue record, or before the key reaches a server.
        """
        CREATE TABLE key_pool (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            bits INTEGER NOT NULL,
            pkcs8 BLOB NOT NULL                      -- PKCS#8 RSA private key, never used yet
        );
        """,
        // 5: when an introduction started, for its timeout (groups.md §6.5). Older rows have none and
        // count from the agent's start.
        """
        ALTER TABLE introductions ADD COLUMN created_at TEXT;
        """,
        // 6: who is who (groups.md §6.12): each member's own info as it sent it in G_INFO, and ours per group,
        // sent to every member we connect with. Empty is none.
        """
        ALTER TABLE members ADD COLUMN info BLOB NOT NULL DEFAULT x'';
        ALTER TABLE groups ADD COLUMN own_info BLOB NOT NULL DEFAULT x'';
        """,
        // 7: membership that converges (groups.md §6.11): the last G_VIEW of each member (its view of the
        // others), whether a member speaks G_VIEW, and why an introduction failed (a duplicate is no attempt).
        """
        CREATE TABLE member_views (
            reporter INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            member_id BLOB NOT NULL,
            state INTEGER NOT NULL,                  -- MemberViewState
            PRIMARY KEY (reporter, member_id)
        ) WITHOUT ROWID;
        ALTER TABLE members ADD COLUMN gossips INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE introductions ADD COLUMN reason INTEGER NOT NULL DEFAULT 0;
        """,
        // 8: the group's last messages, given to a newcomer as history and replayed to a
        // member being introduced (groups.md §6.6.1–2); and what a newcomer took as history so far.
        """
        CREATE TABLE group_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,    -- arrival order, oldest first
            group_alias TEXT NOT NULL REFERENCES groups(alias) ON DELETE CASCADE,
            author_id BLOB NOT NULL,                 -- the author's member id (ours for our own)
            ts TEXT NOT NULL,                        -- the author's header time
            msg_id BLOB NOT NULL,                    -- the G_MSG's fields: its text (and hash) is made again from them
            seq INTEGER NOT NULL,
            prev_hash BLOB NOT NULL,
            body BLOB NOT NULL
        );
        CREATE INDEX group_history_group ON group_history(group_alias, id);

        CREATE TABLE group_history_in (
            group_alias TEXT PRIMARY KEY REFERENCES groups(alias) ON DELETE CASCADE,
            received INTEGER NOT NULL DEFAULT 0,     -- G_HIST accepted from our inviter
            closed INTEGER NOT NULL DEFAULT 0        -- 1 once G_ALL came: no more history
        ) WITHOUT ROWID;
        """,
        // 9: group messages seen in an earlier membership of a group (groups.md §6.6), kept when the group's
        // record is replaced by a new GJOIN, so that a member re-added gets none of them again.
        """
        CREATE TABLE group_seen_before (
            group_id BLOB NOT NULL,
            author_id BLOB NOT NULL,                 -- the author's member id
            msg_id BLOB NOT NULL,
            PRIMARY KEY (group_id, author_id, msg_id)
        ) WITHOUT ROWID;
        """,
        // 10: at a member being introduced to us, the first and last of our own group sequence numbers that
        // could not be sent to it directly, given again if its introducer goes (groups.md §6.6.1). 0: none.
        """
        ALTER TABLE members ADD COLUMN replay_from INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE members ADD COLUMN replay_to INTEGER NOT NULL DEFAULT 0;
        """,
        // 11 (groups.md §6.6.1, G_RESEND): at a reader, the sequence number p from which it asked the author to
        // send its messages again: p while the answer is coming, -p once its G_RESENT came, 0 never asked; at an
        // author, the last of its own sequence numbers it sent again to that member, so each goes again at most once.
        """
        ALTER TABLE members ADD COLUMN resend_from INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE members ADD COLUMN resent_to INTEGER NOT NULL DEFAULT 0;
        """,
        // 12 (groups.md §6.7): 1 for a member whose introduction to us we took while leaving, as the bridge
        // between the newcomers; the leave waits until it is connected and has sent its view.
        """
        ALTER TABLE members ADD COLUMN bridge INTEGER NOT NULL DEFAULT 0;
        """,
        // 13 (groups.md §6.6.1, G_HEAD): 1 when last_seq/last_hash is the member's real chain position for us
        // although we have none of its messages (last_seq 0 then means "its first message comes next").
        """
        ALTER TABLE members ADD COLUMN chain_known INTEGER NOT NULL DEFAULT 0;
        """,
    ];

    public static void Apply(SqliteConnection db)
    {
        using var get = db.CreateCommand();
        get.CommandText = "PRAGMA user_version;";
        var version = Convert.ToInt32(get.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (version > Steps.Length)
            throw new InvalidOperationException($"the store has schema version {version}, newer than this agent knows ({Steps.Length})");
        for (var v = version; v < Steps.Length; v++)
        {
            using var tx = db.BeginTransaction();
            AgentStore.Exec(db, Steps[v], tx);
            AgentStore.Exec(db, $"PRAGMA user_version = {v + 1};", tx);
            tx.Commit();
        }
    }
}
