using System.Security.Cryptography;
using System.Text;
using Smp.Agent.Connections;
using Smp.Agent.Groups;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Tests;

/// <summary>
/// The group envelope handlers as pure store work (groups.md §7): a store in memory, connections recorded by
/// a fake, no servers or sockets. Every refusal leaves the store as it was.
/// </summary>
public sealed partial class GroupEnvelopeHandlerTests : IAsyncLifetime
{
    private AgentStore _store = null!;
    private readonly RecordingConnections _conns = new();
    private GroupEnvelopeHandler _handler = null!;
    private static readonly byte[] OurId = RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize);
    private static readonly byte[] AliceId = RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize);

    /// <summary>What the handler asked of the connection layer.</summary>
    private sealed class RecordingConnections : IConnections
    {
        public List<(string Alias, AgentEnvelope Envelope)> Queued { get; } = [];
        public List<string> Dropped { get; } = [];
        public List<string> Joined { get; } = [];

        public Task<NewReceiveQueue> MakeReceiveQueueAsync(string alias, CancellationToken ct) => throw new InvalidOperationException("no network here");
        public void AddInviting(StoreTx tx, NewReceiveQueue queue, ConnectionKind kind, string owner) => throw new InvalidOperationException("not expected");

        public void AddJoining(StoreTx tx, string alias, ConnectionKind kind, string owner, SmpQueueInfo invitation, RsaPublicKey encryptKey, bool reply,
            string corrId, Effects fx)
        {
            tx.InsertConnection(new ConnectionRecord(alias, kind, ConnectionStatus.Joining, Owner: owner));
            Joined.Add(alias);
        }

        public Task<Effects> TransactAsync(Action<StoreTx, Effects> work, CancellationToken ct) => throw new InvalidOperationException("not expected");
        public bool Exists(StoreTx tx, string alias) => tx.ConnectionExists(alias);
        public bool IsDuplex(StoreTx tx, string alias) => tx.GetConnection(alias)?.Status == ConnectionStatus.Active;

        public bool Queue(StoreTx tx, string alias, AgentEnvelope envelope, Effects fx)
        {
            Queued.Add((alias, envelope));
            return true;
        }

        public void Drop(StoreTx tx, string alias, bool abandonQueued, Effects fx) => Dropped.Add(alias);
    }

    public async Task InitializeAsync()
    {
        _store = await AgentStore.OpenAsync(":memory:");
        _handler = new GroupEnvelopeHandler(_conns);
        // Group "g" at this agent, with Alice connected on group connection "#ga".
        await _store.TransactAsync(tx =>
        {
            tx.InsertGroup(new GroupRecord("g", new byte[AgentEnvelope.GroupIdSize], OurId, 1, "info"u8.ToArray(), GroupStatus.Active, "#ga", 0, []));
            tx.InsertConnection(new ConnectionRecord("#ga", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
            tx.InsertConnection(new ConnectionRecord("alice", ConnectionKind.Direct, ConnectionStatus.Active));
            tx.InsertMember(new MemberRecord(0, "g", AliceId, "alice", "#ga", 0, MemberStatus.Connected, false, null, null, "", true, false, 0, []));
        });
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    private static AgentPlaintext.Message Chained(AgentEnvelope envelope, long seq = 1) => new(seq, DateTimeOffset.UtcNow, [], envelope);

    /// <summary>Applies an envelope received on <paramref name="conn"/>; the transaction commits whatever it returns.</summary>
    private Task<(bool Accepted, Effects Fx)> ApplyAsync(AgentEnvelope envelope, string conn = "#ga") => _store.TransactAsync(tx =>
    {
        var fx = new Effects();
        return (_handler.Apply(tx, tx.GetConnection(conn)!, Chained(envelope), fx), fx);
    });

    private Task<List<string>> EventsAsync(string alias = "g") =>
        _store.TransactAsync(tx => tx.PendingEvents(alias).Select(e => Encoding.UTF8.GetString(e.Payload)).ToList());

    /// <summary>Everything a refusal must leave alone: the group, its members, the events.</summary>
    private Task<string> SnapshotAsync() => _store.TransactAsync(tx =>
        string.Join("\n", tx.ListMembers("g").Select(m => m.ToString()).Append(tx.GetGroup("g")!.ToString())
            .Concat(tx.PendingEvents("g").Select(e => Convert.ToHexString(e.Payload)))));

    private static AgentEnvelope.GMsg Message(long seq, byte[] prevHash, string body, byte[]? id = null) =>
        new(id ?? RandomNumberGenerator.GetBytes(AgentEnvelope.GroupMsgIdSize), seq, prevHash, Encoding.UTF8.GetBytes(body));

    [Fact]
    public async Task A_group_message_id_seen_before_from_the_same_member_is_dropped()
    {
        var id = RandomNumberGenerator.GetBytes(AgentEnvelope.GroupMsgIdSize);
        var first = Message(1, [], "hello", id);
        await ApplyAsync(first);

        // The same message id again, even at a later chain position, is a copy: accepted, and silent.
        var (accepted, _) = await ApplyAsync(Message(2, GroupLayer.GroupMsgHash(first), "hello", id));

        Assert.True(accepted);
        Assert.Single(await EventsAsync(), e => e.StartsWith("GMSG alice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_gap_in_an_authors_chain_is_reported_with_the_missing_positions()
    {
        var first = Message(1, [], "one");
        await ApplyAsync(first);

        await ApplyAsync(Message(4, RandomNumberGenerator.GetBytes(32), "four"));

        var events = await EventsAsync();
        Assert.StartsWith("GMSG alice OK S=1,", events[0]);
        Assert.StartsWith("GMSG alice ERR NO_ID 2 3 S=4,", events[1]);
    }

    [Fact]
    public async Task A_broken_hash_in_an_authors_chain_is_reported()
    {
        var first = Message(1, [], "one");
        await ApplyAsync(first);

        await ApplyAsync(Message(2, RandomNumberGenerator.GetBytes(32), "two"));

        Assert.StartsWith("GMSG alice ERR HASH S=2,", (await EventsAsync())[1]);
    }

    [Fact]
    public async Task The_first_message_heard_from_an_author_starts_its_chain()
    {
        await ApplyAsync(Message(7, RandomNumberGenerator.GetBytes(32), "joined late"));

        Assert.StartsWith("GMSG alice OK S=7,", Assert.Single(await EventsAsync()));
    }

    [Fact]
    public async Task A_group_message_on_a_direct_connection_is_refused_and_changes_nothing()
    {
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(Message(1, [], "smuggled"), conn: "alice");

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_forged_join_from_a_member_we_did_not_invite_is_refused_and_changes_nothing()
    {
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GJoin(new byte[AgentEnvelope.InvitationIdSize], AliceId));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
        Assert.Empty(_conns.Queued);
    }

    [Fact]
    public async Task An_introduction_naming_a_member_we_already_know_is_refused_and_the_introducer_told()
    {
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GMem(new byte[AgentEnvelope.IntroductionIdSize], AliceId, 1));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
        var (alias, envelope) = Assert.Single(_conns.Queued);
        Assert.Equal("#ga", alias);
        Assert.Equal(GroupAddErrorReason.DuplicateMember, Assert.IsType<AgentEnvelope.GAddErr>(envelope).Reason);
    }

    [Fact]
    public async Task A_member_leaving_is_marked_left_its_connection_dropped_and_the_group_empty()
    {
        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GLeft());

        Assert.True(accepted);
        var member = (await _store.TransactAsync(tx => tx.ListMembers("g"))).Single();
        Assert.Equal(MemberStatus.Left, member.Status);
        Assert.Equal(["#ga"], _conns.Dropped);
        Assert.Equal(["GLEFT alice", "GEMPTY"], await EventsAsync());
    }

    [Fact]
    public async Task Being_removed_ends_our_membership()
    {
        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GMDel(OurId));

        Assert.True(accepted);
        Assert.Equal(GroupStatus.Removed, (await _store.TransactAsync(tx => tx.GetGroup("g")))!.Status);
        Assert.Equal(["GREMOVED alice", "GEMPTY"], await EventsAsync());
    }

    [Fact]
    public async Task Envelopes_from_a_member_who_left_are_refused()
    {
        await ApplyAsync(new AgentEnvelope.GLeft());
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(Message(1, [], "after leaving"));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    /// <summary>Carol, being introduced to us by Alice (introduction <paramref name="introId"/>), not connected yet.</summary>
    private Task<long> CarolBeingIntroducedAsync(byte[] introId, string introducerConn = "#ga") => _store.TransactAsync(tx =>
    {
        tx.InsertConnection(new ConnectionRecord("#gc", ConnectionKind.Group, ConnectionStatus.Joining, Owner: "g"));
        tx.InsertConnection(new ConnectionRecord("#gb", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
        return tx.InsertMember(new MemberRecord(0, "g", RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize), "carol", "#gc", 1,
            MemberStatus.Joining, false, null, introId, introducerConn, true, false, 0, []));
    });

    [Fact]
    public async Task An_introduction_given_up_by_its_introducer_fails_the_member_it_was_making_and_tells_the_client()
    {
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId);

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GAddErr(introId, GroupAddErrorReason.Timeout));

        Assert.True(accepted);
        Assert.Equal(MemberStatus.Failed, (await _store.TransactAsync(tx => tx.GetMember(carol)))!.Status);
        Assert.Equal(["#gc"], _conns.Dropped);
        Assert.Equal(["GMFAILED carol TIMEOUT"], await EventsAsync());
    }

    [Fact]
    public async Task A_forged_introduction_failure_from_a_member_who_did_not_introduce_is_refused_and_changes_nothing()
    {
        // Alice claims to give up an introduction that Bob runs: she cannot end Carol's connection with us.
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        await CarolBeingIntroducedAsync(introId, introducerConn: "#gb");
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GAddErr(introId, GroupAddErrorReason.Timeout));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
        Assert.Empty(_conns.Dropped);
    }

    /// <summary>We invited Bob ("#gb"); his introduction to Alice is forwarded to her and not answered yet.</summary>
    private Task<byte[]> BobsIntroductionToAliceForwardedAsync() => _store.TransactAsync(tx =>
    {
        tx.InsertConnection(new ConnectionRecord("#gb", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
        tx.InsertConnection(new ConnectionRecord("bob", ConnectionKind.Direct, ConnectionStatus.Active));
        var bob = tx.InsertMember(new MemberRecord(0, "g", RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize), "bob", "#gb", 2,
            MemberStatus.Connected, true, RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize), null, "", true, false, 0, []));
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        tx.InsertIntroduction(new IntroductionRecord("g", introId, bob, tx.MemberById("g", AliceId)!.Id, IntroductionStatus.Forwarded, false, false));
        return introId;
    });

    [Fact]
    public async Task An_introduction_unresolved_past_its_timeout_fails_both_members_are_told_and_gall_comes()
    {
        var introId = await BobsIntroductionToAliceForwardedAsync();

        await _store.TransactAsync(tx => _handler.ExpireIntroductions(tx, DateTime.UtcNow.AddSeconds(1), DateTime.UtcNow, new Effects()));

        Assert.Equal(IntroductionStatus.Failed, (await _store.TransactAsync(tx => tx.GetIntroduction("g", introId)))!.Status);
        Assert.Equal(
            [("#gb", "GAddErr TIMEOUT"), ("#ga", "GAddErr TIMEOUT"), ("#gb", "GAll")],
            _conns.Queued.Select(q => (q.Alias, q.Envelope is AgentEnvelope.GAddErr e ? $"GAddErr {Encoding.ASCII.GetString(AgentPlaintextCodec.ReasonToken(e.Reason))}" : q.Envelope.Kind.ToString())));
        Assert.Equal(["GALL bob"], await EventsAsync());
    }

    [Fact]
    public async Task An_introduction_within_its_timeout_is_left_alone()
    {
        var introId = await BobsIntroductionToAliceForwardedAsync();

        // Started just now; the cutoff is a second earlier.
        await _store.TransactAsync(tx => _handler.ExpireIntroductions(tx, DateTime.UtcNow.AddSeconds(-1), DateTime.UtcNow, new Effects()));

        Assert.Equal(IntroductionStatus.Forwarded, (await _store.TransactAsync(tx => tx.GetIntroduction("g", introId)))!.Status);
        Assert.Empty(_conns.Queued);
    }

    [Fact]
    public async Task A_failed_handshake_with_a_member_being_introduced_tells_the_introducer_at_once_and_gives_the_member_up()
    {
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId);

        await _store.TransactAsync(tx => _handler.ConnectionFailed(tx, tx.GetConnection("#gc")!, new Effects()));

        var (alias, envelope) = Assert.Single(_conns.Queued);
        Assert.Equal("#ga", alias);
        var error = Assert.IsType<AgentEnvelope.GAddErr>(envelope);
        Assert.Equal(introId, error.IntroductionId);
        Assert.Equal(GroupAddErrorReason.JoinFailed, error.Reason);
        Assert.Equal(MemberStatus.Failed, (await _store.TransactAsync(tx => tx.GetMember(carol)))!.Status);
        Assert.Equal(["#gc"], _conns.Dropped);
        Assert.Equal(["GMFAILED carol JOIN_FAILED"], await EventsAsync());
    }

    [Fact]
    public async Task A_failed_handshake_with_our_inviter_changes_no_member()
    {
        var before = await SnapshotAsync();

        await _store.TransactAsync(tx => _handler.ConnectionFailed(tx, tx.GetConnection("#ga")!, new Effects()));

        Assert.Equal(before, await SnapshotAsync());
        Assert.Empty(_conns.Queued);
    }

    [Fact]
    public async Task An_introduction_failed_by_one_member_is_passed_on_to_the_other_and_gall_comes()
    {
        // Alice is the member Bob is being introduced to; her handshake with Bob failed for good.
        var introId = await BobsIntroductionToAliceForwardedAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GAddErr(introId, GroupAddErrorReason.JoinFailed));

        Assert.True(accepted);
        Assert.Equal(IntroductionStatus.Failed, (await _store.TransactAsync(tx => tx.GetIntroduction("g", introId)))!.Status);
        Assert.Equal([("#gb", "GAddErr JOIN_FAILED"), ("#gb", "GAll")],
            _conns.Queued.Select(q => (q.Alias, q.Envelope is AgentEnvelope.GAddErr e ? $"GAddErr {Encoding.ASCII.GetString(AgentPlaintextCodec.ReasonToken(e.Reason))}" : q.Envelope.Kind.ToString())));
        Assert.Equal(["GALL bob"], await EventsAsync());
    }
}
