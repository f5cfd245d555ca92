using System.Net;
using Smp.Agent;
using Smp.Agent.Client;
using Smp.Agent.Tests;
using Smp.Protocol.Encodings;

namespace Smp.Cli.Tests;

/// <summary>The terminal client driven through its input against real in-process servers, agents and listeners.</summary>
public sealed partial class TerminalClientTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();
    private readonly List<AgentListener> _listeners = [];
    private readonly List<ScriptedTerminal> _terminals = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var t in _terminals) await t.DisposeAsync();
        foreach (var l in _listeners) await l.DisposeAsync();
        await _h.DisposeAsync();
    }

    private AgentListener Listen(SmpAgent agent)
    {
        var listener = AgentListener.Start(agent, IPAddress.Loopback, 0);
        _listeners.Add(listener);
        return listener;
    }

    private async Task<ScriptedTerminal> TerminalAsync(int port, string name)
    {
        var t = new ScriptedTerminal(port, name);
        _terminals.Add(t);
        await t.ExpectAsync("* connected to the agent");
        await t.ExpectAsync("* subscribed (no contacts or groups yet)");
        return t;
    }

    /// <summary>alice invites bob, bob accepts: both see the connection.</summary>
    private static Task ConnectAsync(ScriptedTerminal alice, ScriptedTerminal bob) => ConnectAsync(alice, "bob", bob, "alice");

    /// <summary>x invites y (calling them <paramref name="yName"/>), y accepts (calling x <paramref name="xName"/>).</summary>
    private static async Task ConnectAsync(ScriptedTerminal x, string yName, ScriptedTerminal y, string xName)
    {
        await x.TypeAsync($"/invite {yName}");
        await x.ExpectAsync($"* invitation for {yName}");
        var invitation = await x.ExpectAsync(l => l.StartsWith("smp::", StringComparison.Ordinal), "the invitation");
        await y.TypeAsync($"/accept {xName} {invitation}");
        await y.ExpectAsync($"* connected to {xName}");
        await x.ExpectAsync($"* connected to {yName}");
    }

    [Fact]
    public async Task Two_people_connect_chat_and_run_a_group_by_typing_commands()
    {
        var server = await _h.StartServerAsync();
        var alice = await TerminalAsync(Listen(await _h.StartAgentAsync("a", server)).Port, "alice");
        var bob = await TerminalAsync(Listen(await _h.StartAgentAsync("b", server)).Port, "bob");
        await ConnectAsync(alice, bob);

        await alice.TypeAsync("@bob hello bob");
        await alice.ExpectAsync("[to bob] hello bob");
        await bob.ExpectAsync("[alice] hello bob");
        await bob.TypeAsync("/send alice hi alice, ça va?");
        await alice.ExpectAsync("[bob] hi alice, ça va?");

        await alice.TypeAsync("/group team The Team");
        await alice.ExpectAsync("* created group team");
        await alice.TypeAsync("/add team bob");
        await alice.ExpectAsync("* invited bob to team");
        await bob.ExpectAsync("* alice invites you to a group: \"The Team\"");
        var how = await bob.ExpectAsync(l => l.StartsWith("  /join ", StringComparison.Ordinal), "the /join hint");
        var invitationId = how.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        await bob.TypeAsync($"/join {invitationId} team");
        await bob.ExpectAsync("* joining group team");
        await alice.ExpectAsync("* team: every introduction for bob's join is done");
        await bob.ExpectAsync("* team: every introduction for alice's join is done");

        await bob.TypeAsync("#team hi team");
        await bob.ExpectAsync("[team] you: hi team");
        await alice.ExpectAsync("[team] bob: hi team");
        await alice.TypeAsync("/gsend team welcome");
        await bob.ExpectAsync("[team] alice: welcome");

        await alice.TypeAsync("/members team");
        await alice.ExpectAsync("  + bob  connected");
        await alice.ExpectAsync("* team: 1 member besides you");

        await bob.TypeAsync("/leave team");
        await bob.ExpectAsync("* you left team");
        await alice.ExpectAsync("* bob left team");
        await alice.ExpectAsync("* team: no other member is connected any more");

        // Mistakes get answers, never an end of the session.
        await alice.TypeAsync("@nobody are you there");
        await alice.ExpectAsync("! message to nobody: no such contact (CONN UNKNOWN)");
        await alice.TypeAsync("just typing");
        await alice.ExpectAsync("! to send a message type @name text");
        await alice.TypeAsync("/join AAAAAAAAAAAAAAAA");
        await alice.ExpectAsync("no such group or invitation (GROUP UNKNOWN)");

        // Raw protocol passes through; the answer comes back as protocol text.
        await alice.TypeAsync("!bob SEND :raw hello");
        await alice.ExpectAsync("< bob SENT ");
        await bob.ExpectAsync("[alice] raw hello");
        await alice.TypeAsync("!bob FROB");
        await alice.ExpectAsync("< bob ERR CMD SYNTAX");

        await alice.TypeAsync("/quit");
        await alice.Run.WaitAsync(TestSupport.Patience);
        await bob.EndInputAsync();
        await bob.Run.WaitAsync(TestSupport.Patience);
    }

    [Fact]
    public async Task The_wire_view_shows_both_directions()
    {
        var server = await _h.StartServerAsync();
        var alice = await TerminalAsync(Listen(await _h.StartAgentAsync("a", server)).Port, "alice");
        await alice.TypeAsync("/wire on");
        await alice.ExpectAsync("* showing the wire");
        await alice.TypeAsync("/delete ghost");
        await alice.ExpectAsync(l => l.StartsWith("> ", StringComparison.Ordinal) && l.EndsWith(" | ghost | DEL", StringComparison.Ordinal), "> … DEL");
        await alice.ExpectAsync(l => l.StartsWith("< ", StringComparison.Ordinal) && l.EndsWith(" | ghost | ERR CONN UNKNOWN", StringComparison.Ordinal), "< … ERR");
        await alice.ExpectAsync("! /delete ghost: no such contact (CONN UNKNOWN)");
    }

    [Fact]
    public async Task The_client_reconnects_when_the_agent_restarts_and_gets_what_arrived_meanwhile()
    {
        var server = await _h.StartServerAsync();
        var agentA = await _h.StartAgentAsync("a", server);
        // Alice's agent keeps its port while it stops and starts again; meanwhile connections are refused.
        using var port = new PortReservation();
        var listenerA = AgentListener.Start(agentA, port.ForListener());
        _listeners.Add(listenerA);
        var alice = await TerminalAsync(port.Port, "alice");
        var bob = await TerminalAsync(Listen(await _h.StartAgentAsync("b", server)).Port, "bob");
        await ConnectAsync(alice, bob);

        // The agent goes away: its listener and then the agent itself.
        _listeners.Remove(listenerA);
        await listenerA.DisposeAsync();
        await alice.ExpectAsync("! lost the connection to the agent; reconnecting");
        var options = await _h.StopAgentAsync(agentA);
        await alice.TypeAsync("@bob are you there?");
        await alice.ExpectAsync("! not connected to the agent (reconnecting): message to bob was not sent");
        await bob.TypeAsync("@alice sent while your agent was down");
        await bob.ExpectAsync("[to alice] sent while your agent was down");

        // Back on the same port: the client finds it, SUBALL brings bob's connection and the held message.
        _listeners.Add(AgentListener.Start(await _h.StartAgentAsync(options), port.ForListener()));
        await alice.ExpectAsync("* reconnected to the agent");
        await alice.ExpectAsync("* listening to bob");
        await alice.ExpectAsync("[bob] sent while your agent was down");
        await alice.TypeAsync("@bob back again");
        await bob.ExpectAsync("[alice] back again");
    }

    [Fact]
    public async Task Without_an_agent_commands_get_a_clear_error_and_quit_still_works()
    {
        using var refusing = new PortReservation();
        var alice = new ScriptedTerminal(refusing.Port, "alice");
        _terminals.Add(alice);
        await alice.ExpectAsync("! cannot reach the agent");
        await alice.TypeAsync("@bob hello");
        await alice.ExpectAsync("! not connected to the agent (reconnecting): message to bob was not sent");
        await alice.TypeAsync("!bob SEND :x");
        await alice.ExpectAsync("! not connected to the agent (reconnecting): raw command was not sent");
        await alice.TypeAsync("/help");
        await alice.ExpectAsync("  /invite <name>");
        await alice.TypeAsync("/quit");
        await alice.Run.WaitAsync(TestSupport.Patience);
    }

    [Fact]
    public async Task An_agent_that_starts_late_is_found()
    {
        var server = await _h.StartServerAsync();
        // Held and not listening: connections are refused until the agent's listener comes.
        using var port = new PortReservation();
        var alice = new ScriptedTerminal(port.Port, "alice");
        _terminals.Add(alice);
        await alice.ExpectAsync("! cannot reach the agent");
        _listeners.Add(AgentListener.Start(await _h.StartAgentAsync("a", server), port.ForListener()));
        await alice.ExpectAsync("* connected to the agent");
        await alice.TypeAsync("/invite bob");
        await alice.ExpectAsync("* invitation for bob");
    }

    [Fact]
    public async Task During_a_relay_outage_a_direct_message_shows_at_once_as_pending_and_lost_and_back_are_said_once()
    {
        var server = await _h.StartServerAsync();
        var alice = await TerminalAsync(Listen(await _h.StartAgentAsync("a", server)).Port, "alice");
        var bob = await TerminalAsync(Listen(await _h.StartAgentAsync("b", server)).Port, "bob");
        var carol = await TerminalAsync(Listen(await _h.StartAgentAsync("c", server)).Port, "carol");
        // Two contacts: alice's agent has two connections on the relay and sends DOWN and UP for each.
        await ConnectAsync(alice, "bob", bob, "alice");
        await ConnectAsync(alice, "carol", carol, "alice");

        await _h.StopServerAsync();
        await alice.ExpectAsync("! the agent lost its server");
        await alice.TypeAsync("@bob sent during the outage");
        // Shown while the relay is still down: nothing waits for SENT.
        await alice.ExpectAsync("[to bob] sent during the outage (pending)");

        await _h.RestartServerAsync(0);
        await alice.ExpectAsync("* the agent is back on server");
        await alice.ExpectAsync("[to bob] sent during the outage (sent)");
        await bob.ExpectAsync("[alice] sent during the outage");
        // A message after the outage: by its SENT every DOWN and UP of the outage has been shown or dropped.
        await alice.TypeAsync("@carol after the outage");
        await alice.ExpectAsync("[to carol] after the outage (sent)");
        await carol.ExpectAsync("[alice] after the outage");

        var transcript = alice.Transcript;
        Assert.Single(transcript, l => l.Contains("lost its server", StringComparison.Ordinal));
        Assert.Single(transcript, l => l.Contains("back on server", StringComparison.Ordinal));
        Assert.True(transcript.ToList().FindIndex(l => l.Contains("(pending)", StringComparison.Ordinal))
                    < transcript.ToList().FindIndex(l => l.Contains("back on server", StringComparison.Ordinal)), string.Join('\n', transcript));
    }
}
