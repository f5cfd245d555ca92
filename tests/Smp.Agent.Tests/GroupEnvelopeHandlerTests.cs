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
public sealed class GroupEnvelopeHandlerTests : IAsyncLifetime
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
        _handler = new GroupEnvelopeHandler(_conns) { HistorySize = 0 };
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
        for (var i = 1; i <= GroupEnvelopeHandler.MaxHistoryIn; i++)
        {
            var m = Message(i, prev, "h");
            prev = GroupLayer.GroupMsgHash(m);
            Assert.True((await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, m))).Accepted);
        }
        var before = await SnapshotAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GHist(AliceId, DateTimeOffset.UtcNow, Message(GroupEnvelopeHandler.MaxHistoryIn + 1, prev, "one too many")));

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
        _handler = new GroupEnvelopeHandler(_conns) { HistorySize = 2 };
        await ApplyAsync(Message(1, [], "a1"));
        await ApplyAsync(Message(2, [], "a2"));
        await ApplyAsync(Message(3, [], "a3"));
        var (invId, memberId) = await BobInvitedAsync();

        await ApplyAsync(new AgentEnvelope.GJoin(invId, memberId), conn: "#gb");

        Assert.Equal(["GHello", "GMem", "GHist", "GHist"], _conns.Queued.Where(q => q.Alias == "#gb").Select(q => q.Envelope.Kind.ToString()));
        Assert.Equal(["a2", "a3"], _conns.Queued.Select(q => q.Envelope).OfType<AgentEnvelope.GHist>().Select(h => Encoding.UTF8.GetString(h.Message.Body.Span)));
        Assert.All(_conns.Queued.Select(q => q.Envelope).OfType<AgentEnvelope.GHist>(), h => Assert.Equal(AliceId, h.AuthorMemberId));
    }

    /// <summary>We invited Bob on "#gb"; he has not joined yet.</summary>
    private Task<(byte[] InvId, byte[] MemberId)> BobInvitedAsync() => _store.TransactAsync(tx =>
    {
        tx.InsertConnection(new ConnectionRecord("#gb", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
        var invId = RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize);
        var memberId = RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize);
        tx.InsertMember(new MemberRecord(0, "g", memberId, "bob", "#gb", 2, MemberStatus.Invited, true, invId, null, "", false, false, 0, []));
        return (invId, memberId);
    });

    [Fact]
    public void The_largest_group_message_still_fits_when_forwarded_or_given_as_history()
    {
        // groups.md §2: GSEND takes what fits G_HIST (the longer wrapper) with a 64-byte author id; with
        // 1-digit sequence and a full prevHash that is 2,779 body bytes, 126 fewer than a bare G_MSG (2,905).
        AgentEnvelope.GMsg Of(int size) => new(new byte[12], 2, new byte[32], new byte[size]);
        Assert.True(GroupEnvelopeHandler.FitsRelayed(Of(2779)));
        Assert.False(GroupEnvelopeHandler.FitsRelayed(Of(2780)));
        Assert.True(Envelopes.Fits(Of(2905)));
        Assert.False(Envelopes.Fits(Of(2906)));
        Assert.True(Envelopes.Fits(new AgentEnvelope.GFwd(new byte[64], DateTimeOffset.UtcNow, Of(2779))));
    }
}
