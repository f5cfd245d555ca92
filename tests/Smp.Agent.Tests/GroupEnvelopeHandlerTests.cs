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

        /// <summary>The dropped connections whose queued envelopes were abandoned.</summary>
        public List<string> Abandoned { get; } = [];

        public void Drop(StoreTx tx, string alias, bool abandonQueued, Effects fx)
        {
            Dropped.Add(alias);
            if (abandonQueued) Abandoned.Add(alias);
        }
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
    public async Task Messages_had_in_an_earlier_membership_of_the_group_are_not_delivered_again()
    {
        // Found by the simulation (seed 433): re-added, a member got as forwarded messages what it had had
        // in its earlier membership. Here the earlier membership "old" had Alice's message and, as history,
        // one of Bob's; "g" is our new membership of the same group, Alice our inviter again.
        var groupId = RandomNumberGenerator.GetBytes(AgentEnvelope.GroupIdSize);
        var alices = Message(5, [], "said before");
        var bobs = Message(3, [], "bob said before");
        var bobId = Id(0xb0);
        await _store.TransactAsync(tx =>
        {
            tx.InsertGroup(new GroupRecord("old", groupId, Id(0x01), 1, [], GroupStatus.Left, "", 0, []));
            var alice = tx.InsertMember(new MemberRecord(0, "old", AliceId, "old-alice", "", 0, MemberStatus.Left, false, null, null, "", true, true, 0, []));
            Assert.True(tx.MarkGroupMsgSeen(alice, alices.GroupMsgId));
            tx.AppendHistory("old", bobId, DateTimeOffset.UtcNow, bobs, 100);
            tx.DeleteGroup("old");
            tx.Exec("UPDATE groups SET group_id = $g WHERE alias = 'g'", ("$g", groupId));
        });

        Assert.True((await ApplyAsync(alices)).Accepted);
        Assert.True((await ApplyAsync(new AgentEnvelope.GHist(bobId, DateTimeOffset.UtcNow, bobs))).Accepted);
        Assert.True((await ApplyAsync(Message(6, GroupLayer.GroupMsgHash(alices), "new"))).Accepted);

        Assert.Equal(["GMSG alice"], (await EventsAsync()).Select(e => e[..10]));
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

        var told = await _store.TransactAsync(tx => _handler.ConnectionFailed(tx, tx.GetConnection("#gc")!, new Effects()));

        // GMFAILED says it in group terms: the client gets no SMP error besides (a lost race answers AUTH).
        Assert.True(told);
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

        var told = await _store.TransactAsync(tx => _handler.ConnectionFailed(tx, tx.GetConnection("#ga")!, new Effects()));

        // Nothing was said in group terms, so the client gets the SMP error.
        Assert.False(told);
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
    public async Task Members_introduced_by_the_rule_are_given_what_the_other_said_before_from_our_history()
    {
        var bobId = Id(0xee);
        await ConnectedMemberAsync("bob", "#gb", bobId);
        await ApplyAsync(Message(1, [], "from alice"));
        await ApplyAsync(Message(1, [], "from bob"), "#gb");
        Assert.True((await ApplyAsync(ViewOf(), "#gb")).Accepted);
        Assert.True((await ApplyAsync(ViewOf())).Accepted);

        var (makerConn, joinerConn, joinerId) = AliceId.AsSpan().SequenceCompareTo(bobId) < 0 ? ("#ga", "#gb", bobId) : ("#gb", "#ga", AliceId);
        var toMaker = _conns.Queued.Where(q => q.Alias == makerConn).Select(q => q.Envelope).ToList();
        var replay = Assert.IsType<AgentEnvelope.GFwd>(toMaker[toMaker.FindIndex(e => e is AgentEnvelope.GMem) + 1]);
        Assert.Equal(joinerId, replay.AuthorMemberId);
        Assert.DoesNotContain(_conns.Queued, q => q.Alias == joinerConn && q.Envelope is AgentEnvelope.GFwd);
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
    public async Task An_introduction_refused_as_member_gone_is_not_tried_again_at_once()
    {
        // Seed 7004: the member being introduced was leaving and refused (§6.7); introduced again at once, the
        // other end took the new G_MEM and held the departed member as joining after the introducer left too.
        var (_, makerConn, _) = await MissingPairAsync();
        var mem = (AgentEnvelope.GMem)Assert.Single(QueuedOf<AgentEnvelope.GMem>()).Envelope;

        Assert.True((await ApplyAsync(new AgentEnvelope.GAddErr(mem.IntroductionId, GroupAddErrorReason.MemberGone), makerConn)).Accepted);

        Assert.Single(QueuedOf<AgentEnvelope.GMem>());
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
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_view_saying_our_inviter_left_before_our_gall_came_waits_for_the_gall_and_goodbye_on_its_connection(bool hadGall)
    {
        // Alice (on "#ga") is our inviter; she leaves only after our G_ALL, but Bob's view can overtake it (flaky
        // GroupTests.An_inviter_that_leaves_right_after_its_invitee_joined_first_brings_it_in).
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        if (hadGall) Assert.True((await ApplyAsync(new AgentEnvelope.GAll())).Accepted);

        Assert.True((await ApplyAsync(ViewOf((AliceId, MemberViewState.Left)), "#gb")).Accepted);

        var alice = await _store.TransactAsync(tx => tx.MemberByConn("#ga"));
        if (hadGall)
        {
            Assert.Equal(MemberStatus.Left, alice!.Status);
            return;
        }
        Assert.Equal(MemberStatus.Connected, alice!.Status);
        Assert.True((await ApplyAsync(new AgentEnvelope.GAll())).Accepted);
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);
        Assert.Equal(["GALL alice", "GLEFT alice"], (await EventsAsync()).Where(e => e.Contains("alice", StringComparison.Ordinal)));
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

    /// <summary>Dave, introduced to us by Alice, before our queues for him were made (G_MEM came, its job has not run).</summary>
    private Task<long> DaveBeforeHisQueuesAsync() => _store.TransactAsync(tx =>
        tx.InsertMember(new MemberRecord(0, "g", Id(0x77), "", "", 1, MemberStatus.Joining, false, null, RandomNumberGenerator.GetBytes(12), "#ga", false, false, 0, [])));

    [Fact]
    public async Task Members_still_being_introduced_by_one_who_leaves_are_given_up_so_that_another_can_introduce_them()
    {
        var dave = await DaveBeforeHisQueuesAsync();
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        await ApplyAsync(ViewOf(), "#gb");
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);

        Assert.Equal(MemberStatus.Failed, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);
        var view = (AgentEnvelope.GView)QueuedOf<AgentEnvelope.GView>().Last().Envelope;
        Assert.DoesNotContain(view.Entries, e => e.MemberId.AsSpan().SequenceEqual(Id(0x77)));
    }

    [Theory]
    [InlineData("G_LEFT")]
    [InlineData("tombstone")]
    public async Task An_introduction_whose_queues_were_made_goes_on_when_its_introducer_goes_and_is_left_out_of_our_view(string how)
    {
        // Seed 720: Alice, the pair's only common member, was removed while introducing Dave to us; our queue
        // deleted, his confirmation met AUTH, and nobody was left to introduce us again: the group split.
        var dave = await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        await ApplyAsync(ViewOf(), "#gb");
        _conns.Queued.Clear();

        var gone = how == "G_LEFT"
            ? await ApplyAsync(new AgentEnvelope.GLeft())
            : await ApplyAsync(ViewOf((AliceId, MemberViewState.Removed)), "#gb");

        Assert.True(gone.Accepted);
        Assert.Equal(MemberStatus.Joining, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);
        Assert.DoesNotContain("#gd", _conns.Dropped);
        Assert.DoesNotContain(await EventsAsync(), e => e.StartsWith("GMFAILED", StringComparison.Ordinal));
        // Bob sees that we lack Dave, so that he may introduce us if Dave's handshake never ends.
        var view = (AgentEnvelope.GView)Assert.Single(QueuedOf<AgentEnvelope.GView>()).Envelope;
        Assert.DoesNotContain(view.Entries, e => e.MemberId.AsSpan().SequenceEqual(Id(0x77)));
    }

    [Fact]
    public async Task A_member_whose_introducer_went_connects_without_a_g_con_to_it_and_gets_what_we_said_meanwhile()
    {
        var dave = await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");
        await _store.TransactAsync(tx => _handler.Relay.SendOwn(tx, tx.GetGroup("g")!, RandomNumberGenerator.GetBytes(AgentEnvelope.GroupMsgIdSize),
            Encoding.UTF8.GetBytes("while dave was joining"), new Effects()));
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GHello(Id(0x77)), "#gd")).Accepted);

        Assert.Equal(MemberStatus.Connected, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);
        Assert.DoesNotContain(_conns.Queued, q => q.Envelope is AgentEnvelope.GCon);
        Assert.Contains(_conns.Queued, q => q.Alias == "#gd" && q.Envelope is AgentEnvelope.GMsg { AuthorSeq: 1 });
        Assert.Contains("GCON dave", await EventsAsync());
    }

    [Fact]
    public async Task A_new_introduction_supersedes_one_whose_introducer_went_whatever_the_ids()
    {
        // Alice's id is smaller than Bob's: while she is there, Bob's introduction of Dave would be refused.
        await _store.TransactAsync(tx => tx.SetMemberId(tx.MemberByConn("#ga")!.Id, Id(0x01)));
        var dave = await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        await ApplyAsync(ViewOf(), "#gb");
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);
        _conns.Queued.Clear();

        var bobsIntro = RandomNumberGenerator.GetBytes(12);
        Assert.True((await ApplyAsync(new AgentEnvelope.GMem(bobsIntro, Id(0x77), 1), "#gb")).Accepted);

        var now = (await _store.TransactAsync(tx => tx.GetMember(dave)))!;
        Assert.Equal(bobsIntro, now.IntroId);
        Assert.Equal("#gb", now.IntroducerConn);
        Assert.Contains("#gd", _conns.Dropped);
        Assert.DoesNotContain(_conns.Queued, q => q.Envelope is AgentEnvelope.GAddErr);
    }

    [Fact]
    public async Task A_handshake_that_fails_after_its_introducer_went_is_given_up_without_telling_the_one_gone()
    {
        var dave = await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);
        _conns.Queued.Clear();

        var told = await _store.TransactAsync(tx => _handler.ConnectionFailed(tx, tx.GetConnection("#gd")!, new Effects()));

        Assert.True(told);
        Assert.Equal(MemberStatus.Failed, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);
        Assert.DoesNotContain(_conns.Queued, q => q.Alias == "#ga");
        Assert.Contains("GMFAILED dave JOIN_FAILED", await EventsAsync());
    }

    [Fact]
    public async Task An_introduction_whose_introducer_went_ends_at_the_introduction_timeout()
    {
        var dave = await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);

        // Not yet: its queues are younger than the cutoff.
        await _store.TransactAsync(tx => _handler.ExpireIntroductions(tx, DateTime.UtcNow.AddHours(-1), DateTime.UtcNow, new Effects()));
        Assert.Equal(MemberStatus.Joining, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);

        await _store.TransactAsync(tx => _handler.ExpireIntroductions(tx, DateTime.UtcNow.AddSeconds(1), DateTime.UtcNow, new Effects()));

        Assert.Equal(MemberStatus.Failed, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);
        Assert.Contains("GMFAILED dave TIMEOUT", await EventsAsync());
        Assert.Contains("#gd", _conns.Dropped);
    }

    [Fact]
    public async Task An_introduction_whose_introducer_is_there_is_not_ended_by_our_timeout()
    {
        // The introducer ends it (G_ADD_ERR TIMEOUT): we do not second-guess it.
        var dave = await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");

        await _store.TransactAsync(tx => _handler.ExpireIntroductions(tx, DateTime.UtcNow.AddSeconds(1), DateTime.UtcNow, new Effects()));

        Assert.Equal(MemberStatus.Joining, (await _store.TransactAsync(tx => tx.GetMember(dave)))!.Status);
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

    // --- forwarding while connecting, and history (groups.md §6.6.1–2) ---

    private Task<List<string>> ForwardsAsync() => Task.FromResult(_conns.Queued.Where(q => q.Envelope is AgentEnvelope.GFwd)
        .Select(q => $"{q.Alias} {Encoding.UTF8.GetString(((AgentEnvelope.GFwd)q.Envelope).Message.Body.Span)}").ToList());

    [Fact]
    public async Task A_message_from_a_member_not_yet_connected_to_the_one_being_introduced_is_forwarded_to_it()
    {
        // We introduce Bob (our invitee) to Alice; G_MEM_INV went to her. Alice's message is forwarded to Bob,
        // Bob's to Alice, each with the author's id and the G_MSG intact.
        await BobsIntroductionToAliceForwardedAsync();
        var m = Message(1, [], "from alice");

        await ApplyAsync(m);
        var (accepted, _) = await ApplyAsync(Message(1, [], "from bob"), conn: "#gb");

        Assert.True(accepted);
        Assert.Equal(["#gb from alice", "#ga from bob"], await ForwardsAsync());
        var fwd = (AgentEnvelope.GFwd)_conns.Queued.First(q => q.Envelope is AgentEnvelope.GFwd).Envelope;
        Assert.Equal(AliceId, fwd.AuthorMemberId);
        Assert.Equal(GroupLayer.GroupMsgHash(m), GroupLayer.GroupMsgHash(fwd.Message));
    }

    [Fact]
    public async Task History_that_reaches_an_introducer_after_its_introduction_started_is_forwarded_once()
    {
        // We introduce Bob (our invitee) to Alice (our inviter) while Alice's history is still coming to us: what
        // we had when the introduction started is all Bob could get from us, and Alice said this before she knew
        // Bob (seed 450). Pins the forward of relayed messages; a copy is not forwarded again.
        await BobsIntroductionToAliceForwardedAsync();
        var said = Message(1, [], "before bob came");

        await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, said));
        await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, said));

        Assert.Equal(["#gb before bob came"], await ForwardsAsync());
    }

    /// <summary>Alice introduced Carol (id 0x33) to us and forwards her messages; we introduce Carol to Bob.</summary>
    private async Task<byte[]> CarolByAliceBeingIntroducedToBobAsync()
    {
        var carolId = Id(0x33);
        var carol = await ConnectedMemberAsync("carol", "#gc", carolId, introId: RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize), introducerConn: "#ga");
        var bob = await ConnectedMemberAsync("bob", "#gb", Id(0x44));
        await _store.TransactAsync(tx => tx.InsertIntroduction(new IntroductionRecord("g", RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize),
            bob, carol, IntroductionStatus.Forwarded, false, false)));
        return carolId;
    }

    [Fact]
    public async Task A_forwarded_message_is_forwarded_on_to_a_member_we_introduce_its_author_to()
    {
        // Alice introduced Carol to us and still forwards her messages; we introduce Carol to Bob. What Carol said
        // before she knew either of us reaches us only through Alice, and Bob only through us.
        var carolId = await CarolByAliceBeingIntroducedToBobAsync();

        Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, Message(1, [], "before you came")))).Accepted);

        Assert.Equal(["#gb before you came"], await ForwardsAsync());
    }

    [Fact]
    public async Task A_leaving_member_still_keeps_a_forwarded_message_and_passes_it_on_to_a_member_it_introduces_the_author_to()
    {
        // Seed 720: a0, leaving, dropped what a4 forwarded of a3's, and then introduced a3 to a2 with nothing
        // of a3's to replay: a2 never had a3's first messages. Kept now, passed on, and the client hears nothing.
        var carolId = await CarolByAliceBeingIntroducedToBobAsync();
        await LeaveAsync();
        Assert.Equal(GroupStatus.Leaving, await GroupStatusAsync());

        Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, Message(1, [], "before you came")))).Accepted);

        Assert.Equal(["#gb before you came"], await ForwardsAsync());
        Assert.Single(await _store.TransactAsync(tx => tx.ListHistory("g", carolId)));
        Assert.Empty(await EventsAsync());
    }

    [Fact]
    public async Task A_message_is_not_forwarded_once_its_author_reported_the_connection()
    {
        var introId = await BobsIntroductionToAliceForwardedAsync();
        await ApplyAsync(new AgentEnvelope.GCon(introId));

        await ApplyAsync(Message(1, [], "from alice, after G_CON"));
        // Bob has not reported yet: his messages still go to Alice.
        await ApplyAsync(Message(1, [], "from bob"), conn: "#gb");

        Assert.Equal(["#ga from bob"], await ForwardsAsync());
    }

    [Fact]
    public async Task The_invitees_messages_are_not_forwarded_once_the_invitee_reported_the_connection()
    {
        var introId = await BobsIntroductionToAliceForwardedAsync();
        await ApplyAsync(new AgentEnvelope.GCon(introId), conn: "#gb");

        await ApplyAsync(Message(1, [], "from bob, after G_CON"), conn: "#gb");
        await ApplyAsync(Message(1, [], "from alice"));

        Assert.Equal(["#gb from alice"], await ForwardsAsync());
    }

    [Fact]
    public async Task A_forwarded_message_about_a_member_given_up_is_refused_and_changes_nothing()
    {
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId);
        var carolId = (await _store.TransactAsync(tx => tx.GetMember(carol)))!.MemberId!;
        await _store.TransactAsync(tx => tx.SetMemberStatus(carol, MemberStatus.Failed));
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, Message(1, [], "too late")));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task The_invitees_messages_wait_until_the_member_can_be_told_of_it_then_are_replayed()
    {
        // Bob joined; his introduction to Alice is pending (her G_MEM_INV not sent): she has no record of him.
        var (introId, _) = await BobInvitedAndIntroductionPendingAsync();
        await ApplyAsync(Message(1, [], "early"), conn: "#gb");
        Assert.Empty(await ForwardsAsync());

        await ApplyAsync(new AgentEnvelope.GInvMem(introId, Queue(), Queue()), conn: "#gb");

        // G_MEM_INV first, then the message, on Alice's connection.
        Assert.Equal(["GMemInv", "GFwd"], _conns.Queued.Where(q => q.Alias == "#ga").Select(q => q.Envelope.Kind.ToString()));
        Assert.Equal(["#ga early"], await ForwardsAsync());
    }

    [Fact]
    public async Task With_history_off_nothing_is_kept_or_replayed()
    {
        _handler = new GroupEnvelopeHandler(_conns, historySize: 0);
        var (introId, _) = await BobInvitedAndIntroductionPendingAsync();
        await ApplyAsync(Message(1, [], "early"), conn: "#gb");

        await ApplyAsync(new AgentEnvelope.GInvMem(introId, Queue(), Queue()), conn: "#gb");

        Assert.Empty(await ForwardsAsync());
        Assert.Empty(await _store.TransactAsync(tx => tx.ListHistory("g")));
    }

    private static SmpQueueInfo Queue()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(1024);
        return SmpQueueInfo.TryParse("smp::localhost:5223::AQIDBAUGBwgJCgsM::rsa:" + Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()), out var q)
            ? q! : throw new InvalidOperationException();
    }

    /// <summary>We invited Bob ("#gb"), who is connected; his introduction to Alice is pending.</summary>
    private Task<(byte[] IntroId, long Bob)> BobInvitedAndIntroductionPendingAsync() => _store.TransactAsync(tx =>
    {
        tx.InsertConnection(new ConnectionRecord("#gb", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
        var bob = tx.InsertMember(new MemberRecord(0, "g", RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize), "bob", "#gb", 2,
            MemberStatus.Connected, true, RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize), null, "", true, false, 0, []));
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        tx.InsertIntroduction(new IntroductionRecord("g", introId, bob, tx.MemberById("g", AliceId)!.Id, IntroductionStatus.Pending, false, false));
        return (introId, bob);
    });

    [Fact]
    public async Task A_message_forwarded_then_received_directly_is_delivered_once()
    {
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId);
        var carolId = (await _store.TransactAsync(tx => tx.GetMember(carol)))!.MemberId!;
        var m = Message(1, [], "hi from carol");

        var (forwarded, _) = await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, m));
        await _store.TransactAsync(tx =>
        {
            tx.SetMemberStatus(carol, MemberStatus.Connected);
            tx.SetConnectionStatus("#gc", ConnectionStatus.Active);
        });
        var (direct, _) = await ApplyAsync(m, conn: "#gc");

        Assert.True(forwarded);
        Assert.True(direct);
        Assert.StartsWith("GFMSG carol OK S=1,", Assert.Single(await EventsAsync()));
    }

    [Fact]
    public async Task A_forwarded_message_continues_the_authors_chain_and_a_late_one_does_not_move_it_back()
    {
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId);
        var carolId = (await _store.TransactAsync(tx => tx.GetMember(carol)))!.MemberId!;
        var one = Message(1, [], "one");
        var two = Message(2, GroupLayer.GroupMsgHash(one), "two");
        var three = Message(3, GroupLayer.GroupMsgHash(two), "three");

        await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, one));
        await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, three));
        await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, two));

        var events = await EventsAsync();
        Assert.StartsWith("GFMSG carol OK S=1,", events[0]);
        Assert.StartsWith("GFMSG carol ERR NO_ID 2 2 S=3,", events[1]);
        Assert.StartsWith("GFMSG carol ERR ID 2 S=2,", events[2]);
        var head = (await _store.TransactAsync(tx => tx.GetMember(carol)))!;
        Assert.Equal(3, head.LastSeq);
        Assert.Equal(GroupLayer.GroupMsgHash(three), head.LastHash);
    }

    [Fact]
    public async Task A_forwarded_message_from_a_member_who_did_not_introduce_the_author_is_refused_and_changes_nothing()
    {
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId, introducerConn: "#gb");
        var carolId = (await _store.TransactAsync(tx => tx.GetMember(carol)))!.MemberId!;
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, Message(1, [], "forged")));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_forwarded_message_from_a_member_that_lost_the_race_to_introduce_the_author_is_dropped_quietly()
    {
        // Alice speaks G_VIEW; Bob introduces Carol to us, and Alice (who lost that race) forwards Carol's message.
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId, introducerConn: "#gb");
        var carolId = (await _store.TransactAsync(tx => tx.GetMember(carol)))!.MemberId!;
        Assert.True((await ApplyAsync(ViewOf((carolId, MemberViewState.Connected)))).Accepted);
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, Message(1, [], "not hers to give")));

        Assert.True(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_forwarded_message_from_a_member_that_speaks_views_is_taken_once_the_authors_introducer_is_gone()
    {
        // Found by the simulation (seed 873): Bob introduced Carol to us and left; Carol's message said before
        // she reached us came from Alice, who was introducing her too, and was dropped as not Alice's to give.
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId, introducerConn: "#gb");
        var carolId = (await _store.TransactAsync(tx => tx.GetMember(carol)))!.MemberId!;
        await _store.TransactAsync(tx => tx.InsertMember(new MemberRecord(0, "g", Id(0xbb), "bob", "#gb", 1, MemberStatus.Connected, false, null, null, "", true, false, 0, [])));
        Assert.True((await ApplyAsync(ViewOf((carolId, MemberViewState.Connected)))).Accepted);
        // While Bob is in, Alice's forward is not hers to give.
        Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, Message(1, [], "not yet")))).Accepted);
        await _store.TransactAsync(tx => tx.SetMemberStatus(tx.MemberByConn("#gb")!.Id, MemberStatus.Left));

        Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, Message(1, [], "said before")))).Accepted);

        Assert.Equal(["said before"], (await EventsAsync()).Where(e => e.StartsWith("GFMSG ", StringComparison.Ordinal)).Select(e => e[(e.IndexOf('\n') + 1)..]));
    }

    [Fact]
    public async Task History_of_an_author_offers_again_what_the_authors_connection_holds_back()
    {
        // The author's direct messages after a gap wait for the history or forward that fills it (§6.6.1):
        // accepted history of Carol names her connection for the connection layer to offer its held envelopes.
        var carol = await ConnectedMemberAsync("carol", "#gc", Id(0xee));
        var carolId = (await _store.TransactAsync(tx => tx.GetMember(carol)))!.MemberId!;

        var (accepted, fx) = await ApplyAsync(new AgentEnvelope.GHist(carolId, DateTimeOffset.UtcNow, Message(1, [], "from the history")));

        Assert.True(accepted);
        Assert.Equal(["#gc"], fx.Resume);
    }

    [Fact]
    public async Task A_forwarded_message_naming_an_unknown_author_or_one_not_introduced_is_refused_and_changes_nothing()
    {
        var before = await SnapshotAsync();

        var (unknown, _) = await ApplyAsync(new AgentEnvelope.GFwd(RandomNumberGenerator.GetBytes(16), DateTimeOffset.UtcNow, Message(1, [], "who?")));
        // Alice forwarding her own message: she introduced nobody to us by it.
        var (self, _) = await ApplyAsync(new AgentEnvelope.GFwd(AliceId, DateTimeOffset.UtcNow, Message(1, [], "me")));

        Assert.False(unknown);
        Assert.False(self);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task History_from_our_inviter_is_delivered_as_such_and_sets_the_authors_chain_head()
    {
        var one = Message(1, [], "one");
        var two = Message(2, GroupLayer.GroupMsgHash(one), "two");
        var stranger = RandomNumberGenerator.GetBytes(16);

        await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, one));
        await ApplyAsync(new AgentEnvelope.GHist(stranger, DateTimeOffset.UtcNow, Message(5, [], "from someone gone")));
        await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, two));
        // The same message live again is a copy; the next live one is checked against the history.
        await ApplyAsync(two);
        await ApplyAsync(Message(3, GroupLayer.GroupMsgHash(two), "three"));

        var events = await EventsAsync();
        Assert.Equal(4, events.Count);
        Assert.StartsWith("GHMSG alice OK S=1,", events[0]);
        Assert.StartsWith($"GHMSG #{Convert.ToBase64String(stranger)} OK S=5,", events[1]);
        Assert.StartsWith("GHMSG alice OK S=2,", events[2]);
        Assert.StartsWith("GMSG alice OK S=3,", events[3]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task History_from_an_author_we_did_not_know_yet_is_not_delivered_again_once_it_is_introduced(bool weMakeTheQueues)
    {
        var carolId = Id(0x33);
        var said = Message(1, [], "before you came");
        await ApplyAsync(new AgentEnvelope.GHist(carolId, DateTimeOffset.UtcNow, said));

        // Our inviter introduces Carol, then forwards her message to us again (an introducer replays what it holds).
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        AgentEnvelope introduction = weMakeTheQueues ? new AgentEnvelope.GMem(introId, carolId, 1) : new AgentEnvelope.GMemInv(introId, carolId, 1, Queue(), Queue());
        Assert.True((await ApplyAsync(introduction)).Accepted);
        Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, said))).Accepted);

        Assert.Equal([$"GHMSG #{Convert.ToBase64String(carolId)}"], (await EventsAsync()).Select(e => e[..e.IndexOf(" OK", StringComparison.Ordinal)]));
    }

    [Fact]
    public async Task History_after_gall_is_refused_and_changes_nothing()
    {
        await ApplyAsync(new AgentEnvelope.GAll());
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, Message(1, [], "late")));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task History_from_a_member_who_is_not_our_inviter_is_refused_and_changes_nothing()
    {
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        var carol = await CarolBeingIntroducedAsync(introId);
        await _store.TransactAsync(tx =>
        {
            tx.SetMemberStatus(carol, MemberStatus.Connected);
            tx.SetConnectionStatus("#gc", ConnectionStatus.Active);
        });
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, Message(1, [], "not yours")), conn: "#gc");

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task More_history_than_any_inviter_sends_is_refused_and_changes_nothing()
    {
        var prev = Array.Empty<byte>();
        for (var i = 1; i <= GroupRelay.MaxHistoryIn; i++)
        {
            var m = Message(i, prev, "h");
            prev = GroupLayer.GroupMsgHash(m);
            Assert.True((await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, m))).Accepted);
        }
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, Message(GroupRelay.MaxHistoryIn + 1, prev, "one too many")));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_history_message_too_large_to_have_been_sent_is_refused_and_changes_nothing()
    {
        var before = await SnapshotAsync();
        var body = new string('x', 3000);

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, Message(1, [], body)));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_newcomer_is_given_the_last_messages_as_history_after_its_introductions()
    {
        _handler = new GroupEnvelopeHandler(_conns, historySize: 2);
        await ApplyAsync(Message(1, [], "a1"));
        await ApplyAsync(Message(2, [], "a2"));
        await ApplyAsync(Message(3, [], "a3"));
        var (invId, memberId) = await BobInvitedAsync();

        await ApplyAsync(new AgentEnvelope.GJoin(invId, memberId), conn: "#gb");

        Assert.Equal(["GHello", "GMem", "GView", "GHist", "GHist"], _conns.Queued.Where(q => q.Alias == "#gb").Select(q => q.Envelope.Kind.ToString()));
        Assert.Equal(["a2", "a3"], _conns.Queued.Select(q => q.Envelope).OfType<AgentEnvelope.GHist>().Select(h => Encoding.UTF8.GetString(h.Message.Body.Span)));
        Assert.All(_conns.Queued.Select(q => q.Envelope).OfType<AgentEnvelope.GHist>(), h => Assert.Equal(AliceId, h.AuthorMemberId));
    }

    [Fact]
    public void The_largest_group_message_still_fits_when_forwarded_or_given_as_history()
    {
        // groups.md §2: GSEND takes what fits G_HIST (the longer wrapper) with a 64-byte author id; with
        // 1-digit sequence and a full prevHash that is 2,779 body bytes, 126 fewer than a bare G_MSG (2,905).
        AgentEnvelope.GMsg Of(int size) => new(new byte[12], 2, new byte[32], new byte[size]);
        Assert.True(GroupRelay.FitsRelayed(Of(2779)));
        Assert.False(GroupRelay.FitsRelayed(Of(2780)));
        Assert.True(Envelopes.Fits(Of(2905)));
        Assert.False(Envelopes.Fits(Of(2906)));
        Assert.True(Envelopes.Fits(new AgentEnvelope.GFwd(new byte[64], DateTimeOffset.UtcNow, Of(2779))));
    }
}
