using System.Text;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>Groups of agents (groups.md), through the in-process API.</summary>
public sealed partial class GroupTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    /// <summary>One person: an agent and a client session, and their aliases for the others.</summary>
    private sealed record Person(string Name, SmpAgent Agent, ClientSession Session)
    {
        public Dictionary<string, string> Alias { get; } = [];
    }

    private async Task<Person> PersonAsync(string name, params Protocol.Encodings.SmpServerAddress[] servers)
    {
        var agent = await _h.StartAgentAsync(name, servers);
        return new Person(name, agent, agent.ConnectWatched(name));
    }

    private static async Task ConnectAsync(Person x, Person y)
    {
        var (_, inv) = await x.Agent.NewAsync(x.Session, y.Name);
        await y.Agent.JoinAsync(y.Session, "j", x.Name, inv, noReply: false);
        await y.Session.ExpectAsync(x.Name, "CON");
        await x.Session.ExpectAsync(y.Name, "CON");
        x.Alias[y.Name] = y.Name;
        y.Alias[x.Name] = x.Name;
    }

    /// <summary>Alice, Bob and Carol on one server; Alice connected directly to each of the others.</summary>
    private async Task<(Person Alice, Person Bob, Person Carol)> AliceConnectedToBobAndCarolAsync()
    {
        var server = await _h.StartServerAsync();
        var alice = await PersonAsync("alice", server);
        var bob = await PersonAsync("bob", server);
        var carol = await PersonAsync("carol", server);
        await ConnectAsync(alice, bob);
        await ConnectAsync(alice, carol);
        return (alice, bob, carol);
    }

    /// <summary>x invites y (already connected directly) into x's group; waits for both GALLs.</summary>
    private static async Task AddAsync(Person x, string gid, Person y, List<AgentOutput> yEvents)
    {
        await x.Agent.GroupAddAsync(gid, x.Alias[y.Name]);
        var ginv = await y.Session.ExpectAsync(y.Alias[x.Name], "GINV", yEvents);
        var invId = Convert.FromBase64String(ginv.Text().Split(' ')[1]);
        await y.Agent.GroupJoinAsync(y.Session, gid, invId);
        await x.Session.ExpectAsync(gid, "GALL " + x.Alias[y.Name], null);
        await y.Session.ExpectAsync(gid, "GALL " + y.Alias[x.Name], yEvents);
    }

    [Fact]
    public async Task A_message_sent_right_after_an_invitation_keeps_the_direct_connections_chain_in_order()
    {
        // The invitation's envelope is sealed only when its queue exists, after the SEND was sealed: it must
        // go out after it, or the peer sees the chain out of order.
        var server = await _h.StartServerAsync();
        var alice = await PersonAsync("alice", server);
        var bob = await PersonAsync("bob", server);
        await ConnectAsync(alice, bob);
        await alice.Agent.GroupNewAsync(alice.Session, "team", "t"u8.ToArray());

        await alice.Agent.GroupAddAsync("team", "bob");
        await alice.Agent.SendAsync("s1", "bob", "right after"u8.ToArray());
        await alice.Agent.SendAsync("s2", "bob", "and again"u8.ToArray());

        var skipped = new List<AgentOutput>();
        var first = await bob.Session.ExpectAsync("alice", "MSG", skipped);
        var second = await bob.Session.ExpectAsync("alice", "MSG", skipped);
        // The invitation may come between the two (its queue is made meanwhile): then it was skipped above.
        if (!skipped.Any(o => o.Text().StartsWith("GINV", StringComparison.Ordinal))) await bob.Session.ExpectAsync("alice", "GINV", skipped);
        Assert.StartsWith("MSG OK", first.Text());
        Assert.StartsWith("MSG OK", second.Text());
    }

    [Fact]
    public async Task Three_members_connect_to_each_other_and_every_message_reaches_everyone_once()
    {
        var (alice, bob, carol) = await AliceConnectedToBobAndCarolAsync();

        Assert.Equal("team", await alice.Agent.GroupNewAsync(alice.Session, "team", "our team"u8.ToArray()));
        var bobEvents = new List<AgentOutput>();
        var carolEvents = new List<AgentOutput>();
        await AddAsync(alice, "team", bob, bobEvents);
        await AddAsync(alice, "team", carol, carolEvents);

        // Carol was introduced to Bob: both have a new direct connection and a GCON for it.
        // Carol's GCON for Bob comes before her GALL, so it is among the events skipped while waiting for that.
        static bool IsNewGcon(AgentOutput o) => o.Alias == "team" && o.Text().StartsWith("GCON ", StringComparison.Ordinal) && o.Text() != "GCON alice";
        var carolToBob = carolEvents.Single(IsNewGcon).Text()[5..];
        var bobToCarol = (await bob.Session.ExpectAsync(IsNewGcon)).Text()[5..];
        bob.Alias["carol"] = bobToCarol;
        carol.Alias["bob"] = carolToBob;

        var members = await alice.Agent.GroupMembersAsync("team");
        Assert.Equal(["bob connected", "carol connected"], members.Select(m => m.Alias + " " + m.Status.ToString().ToLowerInvariant()));

        // Everyone sends at once; everyone else receives each message once, in order per author.
        Person[] all = [alice, bob, carol];
        await Task.WhenAll(all.Select(async p =>
        {
            for (var i = 1; i <= 3; i++) await p.Agent.GroupSendAsync("team", Encoding.ASCII.GetBytes($"{p.Name}-{i}"));
        }));
        foreach (var p in all)
        {
            var got = new List<string>();
            while (got.Count < 6)
            {
                var m = await p.Session.ExpectAsync("team", "GMSG");
                Assert.Contains(" OK S=", m.Text());
                got.Add(m.Text()[(m.Text().IndexOf('\n') + 1)..]);
            }
            foreach (var author in all.Where(a => a != p))
                Assert.Equal([$"{author.Name}-1", $"{author.Name}-2", $"{author.Name}-3"], got.Where(g => g.StartsWith(author.Name, StringComparison.Ordinal)));
        }

        // Alice removes Bob: Bob hears GREMOVED from Alice and GMDELETED from Carol, then GEMPTY; Carol hears GMDELETED.
        // The first two come over different connections, so either may come first.
        await alice.Agent.GroupRemoveAsync("team", "bob");
        var beforeEmpty = new List<AgentOutput>();
        await bob.Session.ExpectAsync(o => o.Alias == "team" && o.Text() == "GEMPTY", beforeEmpty);
        var removal = beforeEmpty.Where(o => o.Alias == "team").Select(o => o.Text()).Order(StringComparer.Ordinal);
        Assert.Equal(["GMDELETED " + bob.Alias["carol"], "GREMOVED alice"], removal);
        await carol.Session.ExpectAsync("team", "GMDELETED " + carol.Alias["bob"]);
        var again = await Assert.ThrowsAsync<AgentProtocolException>(() => alice.Agent.GroupRemoveAsync("team", "bob"));
        Assert.Equal("GROUP STATE", again.Error.ToString());
        await Assert.ThrowsAsync<AgentProtocolException>(() => bob.Agent.GroupSendAsync("team", "x"u8.ToArray()));

        // Carol leaves; Alice is alone.
        await carol.Agent.GroupLeaveAsync("team");
        await alice.Session.ExpectAsync("team", "GLEFT carol");
        await alice.Session.ExpectAsync("team", "GEMPTY");
    }

    [Fact]
    public async Task A_message_sent_while_a_newcomer_is_being_introduced_reaches_it_once_forwarded()
    {
        var (alice, bob, carol) = await AliceConnectedToBobAndCarolAsync();
        await alice.Agent.GroupNewAsync(alice.Session, "team", "t"u8.ToArray());
        await AddAsync(alice, "team", bob, []);

        await alice.Agent.GroupAddAsync("team", "carol");
        var ginv = await carol.Session.ExpectAsync("alice", "GINV");
        await carol.Agent.GroupJoinAsync(carol.Session, "team", Convert.FromBase64String(ginv.Text().Split(' ')[1]));
        // Alice has Carol's G_JOIN, so the introduction to Bob exists. Carol goes offline: Bob cannot connect
        // to her until she is back, so whatever he sends now reaches her only through Alice.
        await alice.Session.ExpectAsync("team", "GCON carol");
        var carolOptions = await _h.StopAgentAsync(carol.Agent);
        await bob.Agent.GroupSendAsync("team", "while carol joins"u8.ToArray());
        await alice.Session.ExpectAsync("team", "GMSG bob");
        var carolId = (await alice.Agent.GroupStateAsync("team")).Members.Single(m => m.DirectAlias == "carol").MemberId!;
        // Bob may not even know of Carol yet; he certainly is not connected to her.
        Assert.NotEqual(global::Smp.Agent.Groups.MemberStatus.Connected,
            (await bob.Agent.GroupStateAsync("team")).Members.SingleOrDefault(m => m.MemberId is { } id && id.AsSpan().SequenceEqual(carolId))?.Status);

        var carolAgent = await _h.StartAgentAsync(carolOptions);
        var carolSession = carolAgent.ConnectWatched("carol again");
        await carolAgent.SubscribeAsync(carolSession, "team");
        var seen = new List<AgentOutput>();
        var forwarded = await carolSession.ExpectAsync("team", "GFMSG", seen);
        Assert.Contains(" OK S=1,", forwarded.Text());
        Assert.EndsWith("while carol joins", forwarded.Text());
        await carolSession.ExpectAsync("team", "GALL alice", seen);

        // Connected now: Bob's next message comes directly and continues his chain; the first came once.
        await bob.Agent.GroupSendAsync("team", "direct"u8.ToArray());
        var direct = await carolSession.ExpectAsync("team", "GMSG", seen);
        Assert.Contains(" OK S=2,", direct.Text());
        Assert.EndsWith("direct", direct.Text());
        Assert.Single(seen.Append(forwarded), o => o.Text().EndsWith("while carol joins", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_newcomer_gets_the_last_messages_as_history_and_its_first_live_ones_check_ok()
    {
        var server = await _h.StartServerAsync();
        var aliceAgent = await _h.StartAgentAsync(_h.Options("alice", server) with { GroupHistorySize = 2 });
        var alice = new Person("alice", aliceAgent, aliceAgent.ConnectWatched("alice"));
        var bob = await PersonAsync("bob", server);
        var carol = await PersonAsync("carol", server);
        await ConnectAsync(alice, bob);
        await ConnectAsync(alice, carol);
        await alice.Agent.GroupNewAsync(alice.Session, "team", "t"u8.ToArray());
        await AddAsync(alice, "team", bob, []);
        foreach (var text in new[] { "a1", "a2", "a3" }) await alice.Agent.GroupSendAsync("team", Encoding.ASCII.GetBytes(text));
        for (var i = 0; i < 3; i++) await bob.Session.ExpectAsync("team", "GMSG alice");
        await bob.Agent.GroupSendAsync("team", "b1"u8.ToArray());
        await alice.Session.ExpectAsync("team", "GMSG bob");

        var carolEvents = new List<AgentOutput>();
        await AddAsync(alice, "team", carol, carolEvents);

        // The last two, oldest first, before GALL, with their authors and chain positions.
        var history = carolEvents.Where(o => o.Alias == "team" && o.Text().StartsWith("GHMSG ", StringComparison.Ordinal)).Select(o => o.Text()).ToList();
        Assert.Equal(2, history.Count);
        Assert.StartsWith("GHMSG alice OK S=3,", history[0]);
        Assert.EndsWith("a3", history[0]);
        Assert.Contains(" OK S=1,", history[1]);
        Assert.EndsWith("b1", history[1]);

        await alice.Agent.GroupSendAsync("team", "a4"u8.ToArray());
        var a4 = await carol.Session.ExpectAsync("team", "GMSG alice");
        Assert.Contains(" OK S=4,", a4.Text());
        await bob.Agent.GroupSendAsync("team", "b2"u8.ToArray());
        var b2 = await carol.Session.ExpectAsync("team", "GMSG");
        Assert.Contains(" OK S=2,", b2.Text());
        Assert.EndsWith("b2", b2.Text());
    }

    [Fact]
    public async Task Deleting_the_group_tells_every_member()
    {
        var server = await _h.StartServerAsync();
        var alice = await PersonAsync("alice", server);
        var bob = await PersonAsync("bob", server);
        await ConnectAsync(alice, bob);
        await alice.Agent.GroupNewAsync(alice.Session, "g", "x"u8.ToArray());
        await AddAsync(alice, "g", bob, []);
        await alice.Agent.GroupDeleteAsync("g");
        await bob.Session.ExpectAsync("g", "GDELETED alice");
        var e = await Assert.ThrowsAsync<AgentProtocolException>(() => bob.Agent.GroupSendAsync("g", "x"u8.ToArray()));
        Assert.Equal("GROUP NOT_MEMBER", e.Error.ToString());
    }

    [Fact]
    public async Task Bad_group_commands_get_their_errors_and_change_nothing()
    {
        var server = await _h.StartServerAsync();
        var alice = await PersonAsync("alice", server);
        var bob = await PersonAsync("bob", server);
        await ConnectAsync(alice, bob);
        async Task<string> Error(Func<Task> f) => (await Assert.ThrowsAsync<AgentProtocolException>(f)).Error.ToString();

        Assert.Equal("GROUP UNKNOWN", await Error(() => alice.Agent.GroupAddAsync("nope", "bob")));
        Assert.Equal("GROUP UNKNOWN", await Error(() => alice.Agent.GroupSendAsync("nope", "x"u8.ToArray())));
        await alice.Agent.GroupNewAsync(alice.Session, "g", "x"u8.ToArray());
        Assert.Equal("GROUP DUPLICATE", await Error(() => alice.Agent.GroupNewAsync(alice.Session, "g", "x"u8.ToArray())));
        Assert.Equal("CONN DUPLICATE", await Error(() => alice.Agent.GroupNewAsync(alice.Session, "bob", "x"u8.ToArray())));
        Assert.Equal("CONN UNKNOWN", await Error(() => alice.Agent.GroupAddAsync("g", "nobody")));
        var (_, _) = await alice.Agent.NewAsync(alice.Session, "pending");
        Assert.Equal("CONN SIMPLEX", await Error(() => alice.Agent.GroupAddAsync("g", "pending")));
        Assert.Equal("GROUP UNKNOWN", await Error(() => bob.Agent.GroupJoinAsync(bob.Session, "", new byte[12])));
        Assert.Equal("GROUP MEMBER_UNKNOWN", await Error(() => alice.Agent.GroupRemoveAsync("g", "bob")));
        await alice.Agent.GroupAddAsync("g", "bob");
        Assert.Equal("GROUP DUPLICATE", await Error(() => alice.Agent.GroupAddAsync("g", "bob")));
        Assert.Single(await alice.Agent.GroupMembersAsync("g"));
    }
}
