using System.Text;
using Smp.Protocol.Agent;

namespace Smp.Cli.Demo;

/// <summary><c>smp demo</c>: Alice, Bob and Carol connect, form a group, talk, and the group shrinks again.</summary>
internal static class GroupScenario
{
    public static async Task RunAsync(DemoWorld w)
    {
        var n = w.Narrator;
        n.Title("SMP demo: three people, one relay, and a group that no server knows exists");
        n.Say("Lines under each step are the client protocol as it went over TCP: '>' to an agent, '<' from it.");

        n.Step("Start an SMP relay server on loopback.");
        await w.StartServerAsync().ConfigureAwait(false);
        n.Say($"The relay's address (host:port#hash of its key) is {w.Server}");

        n.Step("Start three agents, one each for Alice, Bob and Carol. Each keeps its keys and state in its own SQLite file.");
        var alice = await w.AddPersonAsync("alice").ConfigureAwait(false);
        var bob = await w.AddPersonAsync("bob").ConfigureAwait(false);
        var carol = await w.AddPersonAsync("carol").ConfigureAwait(false);

        await ConnectAsync(n, alice, bob).ConfigureAwait(false);
        await ConnectAsync(n, alice, carol).ConfigureAwait(false);

        n.Step("Alice and Bob talk directly. Each message is encrypted end to end and signed; the relay sees only padded blobs.");
        await DirectAsync(n, alice, bob, "Hi Bob! Are you around this weekend?").ConfigureAwait(false);
        await DirectAsync(n, bob, alice, "Hi Alice, yes I am.").ConfigureAwait(false);

        n.Step("Alice creates a group, 'friends'. For now it exists only in her agent.");
        await alice.CommandAsync("friends", new AgentCommand.GNew(Encoding.UTF8.GetBytes("Weekend plans"))).ConfigureAwait(false);

        n.Step("Alice adds Bob. Her agent makes a fresh group connection for him and invites him over their direct connection.");
        await AddAsync(n, alice, bob, []).ConfigureAwait(false);

        n.Step("Alice adds Carol. Alice's agent introduces Carol to Bob: they get a group connection and a direct one of their own.");
        var (carolToBob, bobToCarol) = await AddAsync(n, alice, carol, [bob]).ConfigureAwait(false);
        n.Say($"Carol's agent calls Bob '{carolToBob}', Bob's calls Carol '{bobToCarol}': names the agents made for the new direct connection.");

        n.Step("Everyone writes to the group. Each agent sends one copy to each member; the relay cannot tell these from any other message.");
        await alice.CommandAsync("friends", new AgentCommand.GSend(Encoding.UTF8.GetBytes("Hike on Saturday?"))).ConfigureAwait(false);
        await ReceiveGroupAsync(n, bob, "alice", "Hike on Saturday?").ConfigureAwait(false);
        await ReceiveGroupAsync(n, carol, "alice", "Hike on Saturday?").ConfigureAwait(false);
        await bob.CommandAsync("friends", new AgentCommand.GSend(Encoding.UTF8.GetBytes("Count me in."))).ConfigureAwait(false);
        await ReceiveGroupAsync(n, alice, "bob", "Count me in.").ConfigureAwait(false);
        await ReceiveGroupAsync(n, carol, carolToBob, "Count me in.").ConfigureAwait(false);
        await carol.CommandAsync("friends", new AgentCommand.GSend(Encoding.UTF8.GetBytes("Me too!"))).ConfigureAwait(false);
        await ReceiveGroupAsync(n, alice, "carol", "Me too!").ConfigureAwait(false);
        await ReceiveGroupAsync(n, bob, bobToCarol, "Me too!").ConfigureAwait(false);

        n.Step("Alice asks her agent who is in the group.");
        foreach (var m in await MembersAsync(alice, "friends").ConfigureAwait(false)) n.Say($"{m.MemberAlias}: {m.Status.ToString().ToLowerInvariant()}");

        n.Step("Carol leaves the group. Everyone drops their group connection with her.");
        await carol.CommandAsync("friends", new AgentCommand.GLeave()).ConfigureAwait(false);
        await alice.ExpectAsync<AgentCommand.GLeft>("friends", e => e.MemberAlias == "carol").ConfigureAwait(false);
        await bob.ExpectAsync<AgentCommand.GLeft>("friends", e => e.MemberAlias == bobToCarol).ConfigureAwait(false);
        n.Say("Alice and Bob were told that Carol left.");

        n.Step("Alice removes Bob. He is told, and having no one left in the group, hears that it is empty for him.");
        await alice.CommandAsync("friends", new AgentCommand.GMDel("bob")).ConfigureAwait(false);
        await bob.ExpectAsync<AgentCommand.GRemoved>("friends", e => e.MemberAlias == "alice").ConfigureAwait(false);
        await bob.ExpectAsync<AgentCommand.GEmpty>("friends").ConfigureAwait(false);
        await alice.ExpectAsync<AgentCommand.GEmpty>("friends").ConfigureAwait(false);
        n.Say("Bob was removed; Alice and Bob both see the group empty. Their direct connection is untouched:");
        await DirectAsync(n, bob, alice, "Still friends?").ConfigureAwait(false);

        n.Done("Every step happened. The relay stored and forwarded encrypted blobs; only the agents knew there was a group.");
    }

    /// <summary>x makes an invitation, y joins it: a duplex connection (agent.md §1).</summary>
    internal static async Task ConnectAsync(Narrator n, Person x, Person y)
    {
        n.Step($"{x.Display} invites {y.Display}: {x.Display}'s agent creates a queue on the relay and an invitation to pass on out of band.");
        var inv = (AgentCommand.Inv)(await x.CommandAsync(y.Name, new AgentCommand.New()).ConfigureAwait(false)).Command!;
        var text = inv.QueueInfo.ToString();
        n.Say($"Invitation: {text[..Math.Min(60, text.Length)]}...");
        n.Step($"{y.Display} accepts. The agents exchange keys and {y.Display}'s agent makes a queue back: a duplex connection.");
        await y.SendAsync(x.Name, new AgentCommand.Join(inv.QueueInfo)).ConfigureAwait(false);
        await y.ExpectAsync<AgentCommand.Con>(x.Name).ConfigureAwait(false);
        await x.ExpectAsync<AgentCommand.Con>(y.Name).ConfigureAwait(false);
        n.Say($"{x.Display} and {y.Display} are connected.");
    }

    internal static async Task DirectAsync(Narrator n, Person from, Person to, string text)
    {
        await from.SendAsync(to.Name, new AgentCommand.Send(Encoding.UTF8.GetBytes(text))).ConfigureAwait(false);
        await from.ExpectAsync<AgentCommand.Sent>(to.Name).ConfigureAwait(false);
        var msg = await to.ExpectAsync<AgentCommand.Msg>(from.Name).ConfigureAwait(false);
        n.Say($"{to.Display} received from {from.Display}: \"{Encoding.UTF8.GetString(msg.Body.Span)}\" (integrity {msg.Integrity})");
    }

    /// <summary>
    /// x adds y to the group 'friends' x holds and y joins; returns (y's alias for the first of
    /// <paramref name="existing"/>, that member's alias for y) when there is one.
    /// </summary>
    internal static async Task<(string, string)> AddAsync(Narrator n, Person x, Person y, Person[] existing, string gid = "friends")
    {
        await x.CommandAsync(gid, new AgentCommand.GAdd(y.Name)).ConfigureAwait(false);
        var ginv = await y.ExpectAsync<AgentCommand.GInv>(x.Name).ConfigureAwait(false);
        n.Say($"{y.Display} is invited to \"{Encoding.UTF8.GetString(ginv.GroupInfo.Span)}\" and joins.");
        await y.CommandAsync(gid, new AgentCommand.GJoin(ginv.InvitationId)).ConfigureAwait(false);
        await x.ExpectAsync<AgentCommand.GCon>(gid, e => e.MemberAlias == y.Name).ConfigureAwait(false);
        await y.ExpectAsync<AgentCommand.GCon>(gid, e => e.MemberAlias == x.Name).ConfigureAwait(false);
        var aliases = ("", "");
        foreach (var m in existing)
        {
            var yToM = (await y.ExpectAsync<AgentCommand.GCon>(gid, e => e.MemberAlias != x.Name).ConfigureAwait(false)).MemberAlias;
            var mToY = (await m.ExpectAsync<AgentCommand.GCon>(gid).ConfigureAwait(false)).MemberAlias;
            if (aliases == ("", "")) aliases = (yToM, mToY);
        }
        await x.ExpectAsync<AgentCommand.GAll>(gid, e => e.MemberAlias == y.Name).ConfigureAwait(false);
        await y.ExpectAsync<AgentCommand.GAll>(gid).ConfigureAwait(false);
        n.Say($"{y.Display} is connected to every member ({x.Display} and {y.Display} both got GALL).");
        return aliases;
    }

    internal static async Task<AgentCommand.GMsg> ReceiveGroupAsync(Narrator n, Person to, string from, string expected, string gid = "friends")
    {
        var msg = await to.ExpectAsync<AgentCommand.GMsg>(gid, m => m.MemberAlias == from).ConfigureAwait(false);
        var text = Encoding.UTF8.GetString(msg.Body.Span);
        if (text != expected) throw new DemoStepException($"{to.Display} got \"{text}\" from {from}, expected \"{expected}\"");
        n.Say($"{to.Display} got from {from}: \"{text}\" (integrity {msg.Integrity})");
        return msg;
    }

    internal static async Task<List<AgentCommand.GMem>> MembersAsync(Person p, string gid)
    {
        var corrId = p.Client.NextCorrId();
        await p.Client.SendAsync(corrId, gid, new AgentCommand.GMembers()).ConfigureAwait(false);
        var members = new List<AgentCommand.GMem>();
        while (true)
        {
            var t = await p.Client.ExpectAsync(x => x.CorrId == corrId, DemoWorld.StepTimeout).ConfigureAwait(false);
            switch (t.Command)
            {
                case AgentCommand.GMem m: members.Add(m); break;
                case AgentCommand.Ok: return members;
                default: throw new DemoStepException($"GMEMBERS answered {t.CommandOrError.Kind}");
            }
        }
    }
}
