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

    // --- converging membership (groups.md §6.11) ---

    private static byte[] Id(byte b) => Enumerable.Repeat(b, AgentEnvelope.MemberIdSize).ToArray();

    /// <summary>A member connected to us on <paramref name="conn"/>, with direct alias <paramref name="alias"/>.</summary>
    private Task<long> ConnectedMemberAsync(string alias, string conn, byte[] id, MemberStatus status = MemberStatus.Connected,
        byte[]? introId = null, string introducerConn = "") => _store.TransactAsync(tx =>
    {
        tx.InsertConnection(new ConnectionRecord(conn, ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
        return tx.InsertMember(new MemberRecord(0, "g", id, alias, conn, 1, status, false, null, introId, introducerConn, true, false, 0, []));
    });

    private static AgentEnvelope.GView ViewOf(params (byte[] Id, MemberViewState State)[] entries) =>
        new(entries.Select(e => new MemberViewEntry(e.Id, e.State)).ToList());

    private List<(string Alias, AgentEnvelope Envelope)> QueuedOf<T>() where T : AgentEnvelope => _conns.Queued.Where(q => q.Envelope is T).ToList();

    /// <summary>Alice and Bob (ids larger than anything else here) are connected to us, both speak G_VIEW, neither knows the other.</summary>
    private async Task<(byte[] Maker, string MakerConn, byte[] Joiner)> MissingPairAsync()
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId);
        Assert.True((await ApplyAsync(ViewOf(), "#gb")).Accepted);
        Assert.Empty(QueuedOf<AgentEnvelope.GMem>());
        Assert.True((await ApplyAsync(ViewOf())).Accepted);
        return AliceId.AsSpan().SequenceCompareTo(bobId) < 0 ? (AliceId, "#ga", bobId) : (bobId, "#gb", AliceId);
    }

    [Fact]
    public async Task Two_members_whose_views_leave_each_other_out_are_introduced_by_us_the_smaller_id_making_the_queues()
    {
        var (_, makerConn, joiner) = await MissingPairAsync();

        var mem = Assert.Single(QueuedOf<AgentEnvelope.GMem>());
        Assert.Equal(makerConn, mem.Alias);
        Assert.Equal(joiner, ((AgentEnvelope.GMem)mem.Envelope).MemberId);
        var intro = await _store.TransactAsync(tx => tx.GetIntroduction("g", ((AgentEnvelope.GMem)mem.Envelope).IntroductionId));
        Assert.Equal(IntroductionStatus.Pending, intro!.Status);
    }

    [Fact]
    public async Task A_pair_already_being_introduced_is_not_introduced_again_when_a_view_repeats()
    {
        await MissingPairAsync();
        await ApplyAsync(ViewOf());
        await ApplyAsync(ViewOf(), "#gb");

        Assert.Single(QueuedOf<AgentEnvelope.GMem>());
    }

    [Fact]
    public async Task A_pair_with_a_smaller_common_member_is_left_to_it()
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId);
        await ApplyAsync(ViewOf((Id(0), MemberViewState.Connected)), "#gb");
        await ApplyAsync(ViewOf((Id(0), MemberViewState.Connected)));

        Assert.Empty(QueuedOf<AgentEnvelope.GMem>());
    }

    [Fact]
    public async Task A_pair_that_knows_each_other_is_left_alone()
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId);
        await ApplyAsync(ViewOf((AliceId, MemberViewState.Pending)), "#gb");
        await ApplyAsync(ViewOf());

        Assert.Empty(QueuedOf<AgentEnvelope.GMem>());
    }

    [Fact]
    public async Task A_member_that_never_sent_a_view_is_not_introduced_by_the_rule()
    {
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        await ApplyAsync(ViewOf());

        Assert.Empty(QueuedOf<AgentEnvelope.GMem>());
    }

    [Fact]
    public async Task A_failed_introduction_of_a_pair_is_tried_again_until_its_attempts_are_used_up()
    {
        var (_, makerConn, _) = await MissingPairAsync();
        for (var attempt = 1; attempt <= IntroductionRule.MaxAttempts; attempt++)
        {
            var mem = (AgentEnvelope.GMem)QueuedOf<AgentEnvelope.GMem>()[^1].Envelope;
            Assert.True((await ApplyAsync(new AgentEnvelope.GAddErr(mem.IntroductionId, GroupAddErrorReason.JoinFailed), makerConn)).Accepted);
            Assert.Equal(Math.Min(attempt + 1, IntroductionRule.MaxAttempts), QueuedOf<AgentEnvelope.GMem>().Count);
        }
        // A later view does not start a fourth either.
        await ApplyAsync(ViewOf());
        Assert.Equal(IntroductionRule.MaxAttempts, QueuedOf<AgentEnvelope.GMem>().Count);
    }

    [Fact]
    public async Task An_introduction_refused_as_a_duplicate_is_not_tried_again_at_once_and_is_no_attempt()
    {
        var (_, makerConn, _) = await MissingPairAsync();
        var mem = (AgentEnvelope.GMem)Assert.Single(QueuedOf<AgentEnvelope.GMem>()).Envelope;

        await ApplyAsync(new AgentEnvelope.GAddErr(mem.IntroductionId, GroupAddErrorReason.DuplicateMember), makerConn);
        Assert.Single(QueuedOf<AgentEnvelope.GMem>());
        Assert.Equal((0, 0), await _store.TransactAsync(tx => tx.PairAttempts("g", tx.MemberByConn("#ga")!.Id, tx.MemberByConn("#gb")!.Id)));

        // A new view that still leaves the other out: the pair is tried again.
        await ApplyAsync(ViewOf());
        Assert.Equal(2, QueuedOf<AgentEnvelope.GMem>().Count);
    }

    [Fact]
    public async Task A_tombstone_in_a_view_ends_a_connected_member_here_and_is_passed_on()
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId);
        await ConnectedMemberAsync("carol", "#gc", Id(0xdd));
        await ApplyAsync(ViewOf(), "#gc");

        Assert.True((await ApplyAsync(ViewOf((bobId, MemberViewState.Removed)))).Accepted);

        var bob = await _store.TransactAsync(tx => tx.MemberByConn("#gb"));
        Assert.Equal(MemberStatus.Removed, bob!.Status);
        Assert.Contains("#gb", _conns.Dropped);
        Assert.Contains("GMDELETED bob", await EventsAsync());
        // Carol speaks G_VIEW: she hears of it.
        Assert.Contains(_conns.Queued, q => q.Alias == "#gc" && q.Envelope is AgentEnvelope.GView v && v.Entries.Any(e => e.State == MemberViewState.Removed));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_live_entry_or_another_tombstone_for_a_member_we_hold_gone_does_not_bring_it_back(bool left)
    {
        var gone = left ? MemberStatus.Left : MemberStatus.Removed;
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId, gone);
        var before = await SnapshotAsync();

        Assert.True((await ApplyAsync(ViewOf((bobId, gone == MemberStatus.Left ? MemberViewState.Removed : MemberViewState.Left)), "#ga")).Accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_live_entry_for_a_member_we_hold_removed_does_not_bring_it_back()
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId, MemberStatus.Removed);
        var before = await SnapshotAsync();

        Assert.True((await ApplyAsync(ViewOf((bobId, MemberViewState.Connected)))).Accepted);

        Assert.Equal(before, await SnapshotAsync());
    }

    [Theory]
    [InlineData("us")]
    [InlineData("sender")]
    [InlineData("twice")]
    public async Task A_forged_view_naming_us_its_sender_or_a_member_twice_is_refused_and_changes_nothing(string forgery)
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId);
        var before = await SnapshotAsync();
        var view = forgery switch
        {
            "us" => ViewOf((OurId, MemberViewState.Removed)),
            "sender" => ViewOf((AliceId, MemberViewState.Left)),
            _ => ViewOf((bobId, MemberViewState.Connected), (bobId, MemberViewState.Removed)),
        };

        Assert.False((await ApplyAsync(view)).Accepted);

        Assert.Equal(before, await SnapshotAsync());
        Assert.False(await _store.TransactAsync(tx => tx.Gossips(tx.MemberByConn("#ga")!.Id)));
    }

    [Fact]
    public async Task A_removed_member_introduced_again_is_refused_and_the_introducer_told_it_is_gone()
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId, MemberStatus.Removed);
        var before = await SnapshotAsync();

        Assert.False((await ApplyAsync(new AgentEnvelope.GMem(new byte[12], bobId, 1))).Accepted);

        Assert.Equal(before, await SnapshotAsync());
        var refusal = Assert.Single(QueuedOf<AgentEnvelope.GAddErr>());
        Assert.Equal(("#ga", GroupAddErrorReason.MemberGone), (refusal.Alias, ((AgentEnvelope.GAddErr)refusal.Envelope).Reason));
    }

    [Fact]
    public async Task Of_two_racing_introductions_of_one_member_the_one_by_the_smaller_introducer_replaces_the_other()
    {
        // We are joining Dave by Bob's introduction; Alice (id 0x01, smaller than Bob's) introduces him too.
        var daveId = Id(0x77);
        await _store.TransactAsync(tx => tx.SetMemberId(tx.MemberByConn("#ga")!.Id, Id(0x01)));
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        await ApplyAsync(ViewOf());
        var bobsIntro = RandomNumberGenerator.GetBytes(12);
        var dave = await ConnectedMemberAsync("dave", "#gd", daveId, MemberStatus.Joining, bobsIntro, "#gb");
        var alicesIntro = RandomNumberGenerator.GetBytes(12);

        Assert.True((await ApplyAsync(new AgentEnvelope.GMem(alicesIntro, daveId, 1))).Accepted);

        var record = await _store.TransactAsync(tx => tx.GetMember(dave));
        Assert.Equal((MemberStatus.Joining, "#ga", Convert.ToHexString(alicesIntro)), (record!.Status, record.IntroducerConn, Convert.ToHexString(record.IntroId!)));
        Assert.Contains("#gd", _conns.Dropped);
        Assert.Contains(_conns.Queued, q => q.Alias == "#gb" && q.Envelope is AgentEnvelope.GAddErr { Reason: GroupAddErrorReason.DuplicateMember } e
                                            && e.IntroductionId.AsSpan().SequenceEqual(bobsIntro));
    }

    [Fact]
    public async Task Of_two_racing_introductions_of_one_member_the_one_by_the_larger_introducer_is_refused_quietly()
    {
        var daveId = Id(0x77);
        await _store.TransactAsync(tx => tx.SetMemberId(tx.MemberByConn("#ga")!.Id, Id(0xf0)));
        await ApplyAsync(ViewOf());
        await ConnectedMemberAsync("bob", "#gb", Id(0x02));
        var bobsIntro = RandomNumberGenerator.GetBytes(12);
        var dave = await ConnectedMemberAsync("dave", "#gd", daveId, MemberStatus.Joining, bobsIntro, "#gb");
        var before = await SnapshotAsync();

        Assert.True((await ApplyAsync(new AgentEnvelope.GMem(RandomNumberGenerator.GetBytes(12), daveId, 1))).Accepted);

        Assert.Equal(before, await SnapshotAsync());
        Assert.Contains(_conns.Queued, q => q.Alias == "#ga" && q.Envelope is AgentEnvelope.GAddErr { Reason: GroupAddErrorReason.DuplicateMember });
        Assert.DoesNotContain("#gd", _conns.Dropped);
    }

    [Fact]
    public async Task Members_still_being_introduced_by_one_who_leaves_are_given_up_so_that_another_can_introduce_them()
    {
        var dave = await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");

        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);

        Assert.Equal(MemberStatus.Failed, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);
        Assert.Contains("GMFAILED dave MEMBER_GONE", await EventsAsync());
    }

    [Fact]
    public async Task With_views_turned_off_no_view_is_sent_and_no_pair_is_introduced_by_the_rule()
    {
        _handler = new GroupEnvelopeHandler(_conns, views: false);
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        await ApplyAsync(ViewOf(), "#gb");
        await ApplyAsync(ViewOf());
        await ApplyAsync(new AgentEnvelope.GLeft(), "#gb");

        Assert.Empty(_conns.Queued);
    }
}
