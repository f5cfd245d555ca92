using System.Net;
using System.Text;
using Smp.Protocol.Encodings;
using Smp.Server;

namespace Smp.Agent.Tests;

/// <summary>In-process servers and agents on loopback, in a temporary directory removed at the end.</summary>
internal sealed class AgentHarness : IAsyncDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-agent-tests-");
    private readonly List<ServerSlot> _servers = [];
    private readonly List<SmpAgent> _agents = [];

    /// <summary>A server behind a gate whose port stays while the server stops and starts again on a fresh port.</summary>
    private sealed class ServerSlot(string name, TcpGate gate, int quota)
    {
        public string Name { get; } = name;
        public TcpGate Gate { get; } = gate;
        public int Quota { get; } = quota;
        public SmpServer? Server { get; set; }
    }

    public string Dir => _dir.FullName;

    /// <summary>Starts a server; its address stays valid across <see cref="StopServerAsync"/> and <see cref="RestartServerAsync"/>.</summary>
    /// <remarks><paramref name="quota"/>: waiting messages per queue before SEND gets ERR QUOTA.</remarks>
    public async Task<SmpServerAddress> StartServerAsync(string name = "server", int quota = 128)
    {
        var slot = new ServerSlot(name, TcpGate.Start(), quota);
        _servers.Add(slot);
        return await RunAsync(slot);
    }

    private async Task<SmpServerAddress> RunAsync(ServerSlot slot)
    {
        var server = await SmpServer.StartAsync(new SmpServerOptions
        {
            DataDirectory = Path.Combine(Dir, slot.Name),
            Port = 0,
            BindAddress = IPAddress.Loopback,
            StatsInterval = TimeSpan.Zero,
            MaxMessagesPerQueue = slot.Quota,
        });
        slot.Server = server;
        slot.Gate.Backend = server.Port;
        return new SmpServerAddress("127.0.0.1", slot.Gate.Port, server.Address.KeyHash);
    }

    public SmpServer Server(int i = 0) => _servers[i].Server ?? throw new InvalidOperationException("server stopped");

    /// <summary>Stops server <paramref name="i"/> as a process that goes away: its connections drop and new ones are refused.</summary>
    public async Task StopServerAsync(int i = 0)
    {
        var slot = _servers[i];
        slot.Gate.Backend = 0;
        if (slot.Server is { } server) await server.DisposeAsync();
        slot.Server = null;
    }

    /// <summary>Stops (if running) and starts server <paramref name="i"/> again on its data directory, at the same address.</summary>
    public async Task<SmpServerAddress> RestartServerAsync(int i)
    {
        await StopServerAsync(i);
        return await RunAsync(_servers[i]);
    }

    public AgentOptions Options(string name, params SmpServerAddress[] servers) => new()
    {
        Servers = servers,
        DatabasePath = Path.Combine(Dir, name + ".db"),
        KeyBits = 1024,
        KeyPoolSize = 4,
        RetryInitialDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromMilliseconds(500),
        SmpClient = TestSupport.FastOptions(),
        // Debug lines kept, so that a test failing on an unexpected ERR can say which envelope was refused and why.
        LoggerFactory = new CapturingLoggerFactory(name),
        MetricsStoreCache = TimeSpan.Zero,
    };

    /// <summary>One server and agents "a" and "b" on it: the arrangement most tests start from.</summary>
    public async Task<(SmpServerAddress Server, SmpAgent A, SmpAgent B)> ServerAndTwoAgentsAsync()
    {
        var server = await StartServerAsync();
        return (server, await StartAgentAsync("a", server), await StartAgentAsync("b", server));
    }

    public async Task<SmpAgent> StartAgentAsync(string name, params SmpServerAddress[] servers)
    {
        var agent = await SmpAgent.StartAsync(Options(name, servers));
        _agents.Add(agent);
        return agent;
    }

    /// <summary>Stops an agent (its store stays); start it again with <see cref="StartAgentAsync(AgentOptions)"/>.</summary>
    public async Task<AgentOptions> StopAgentAsync(SmpAgent agent)
    {
        _agents.Remove(agent);
        await agent.DisposeAsync();
        return agent.Options;
    }

    public async Task<SmpAgent> StartAgentAsync(AgentOptions options)
    {
        var agent = await SmpAgent.StartAsync(options);
        _agents.Add(agent);
        return agent;
    }

    public async Task<SmpAgent> RestartAgentAsync(SmpAgent agent)
    {
        var options = agent.Options;
        _agents.Remove(agent);
        await agent.DisposeAsync();
        var again = await SmpAgent.StartAsync(options);
        _agents.Add(again);
        return again;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var a in _agents) await a.DisposeAsync();
        foreach (var slot in _servers)
        {
            if (slot.Server is { } server) await server.DisposeAsync();
            await slot.Gate.DisposeAsync();
        }
        try
        {
            _dir.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class SessionExtensions
{
    /// <summary>Sessions "alice" on <paramref name="a"/> and "bob" on <paramref name="b"/>, connected as "bob" and "alice".</summary>
    public static async Task<(ClientSession Alice, ClientSession Bob)> ConnectAliceAndBobAsync(SmpAgent a, SmpAgent b)
    {
        var alice = a.Connect("alice");
        var bob = b.Connect("bob");
        await ConnectAsync(a, alice, "bob", b, bob, "alice");
        return (alice, bob);
    }

    /// <summary>x invites, y joins; waits for CON on both sides. x calls y <paramref name="yAlias"/>, y calls x <paramref name="xAlias"/>.</summary>
    public static async Task ConnectAsync(SmpAgent x, ClientSession xs, string yAlias, SmpAgent y, ClientSession ys, string xAlias)
    {
        var (_, inv) = await x.NewAsync(xs, yAlias);
        await y.JoinAsync(ys, "j", xAlias, inv, noReply: false);
        await ys.ExpectAsync(xAlias, "CON");
        await xs.ExpectAsync(yAlias, "CON");
    }

    public static string Text(this AgentOutput o) => Encoding.UTF8.GetString(o.Payload);

    /// <summary>
    /// Waits for the next output of the session that matches; earlier non-matching ones are skipped and
    /// returned. Skipping cannot hide a bug: an ERR nobody waits for, or an event the session was given twice
    /// (the same stored event, or the same notification), fails the test at once.
    /// </summary>
    public static async Task<AgentOutput> ExpectAsync(this ClientSession session, Func<AgentOutput, bool> match, List<AgentOutput>? skipped = null,
        TimeSpan? patience = null)
    {
        using var cts = new CancellationTokenSource(patience ?? TestSupport.Patience);
        var log = Logs.GetOrCreateValue(session);
        while (true)
        {
            AgentOutput o;
            try
            {
                o = await session.Output.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{session}: nothing matched within {patience ?? TestSupport.Patience}; recent: {string.Join(" | ", log.Recent)}");
            }
            log.Check(session, o);
            if (match(o)) return o;
            if (o.Text().StartsWith("ERR ", StringComparison.Ordinal))
                Assert.Fail($"{session}: unexpected '{o.Text()}' (alias '{o.Alias}', corrId '{o.CorrId}') while waiting for something else{AgentLogTail(session)}");
            skipped?.Add(o);
        }
    }

    /// <summary>A session of <paramref name="agent"/> whose unexpected ERRs come with the agent's last log lines.</summary>
    public static ClientSession ConnectWatched(this SmpAgent agent, string name)
    {
        var session = agent.Connect(name);
        if (agent.Options.LoggerFactory is CapturingLoggerFactory log) AgentLogs.AddOrUpdate(session, log);
        return session;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ClientSession, CapturingLoggerFactory> AgentLogs = new();

    private static string AgentLogTail(ClientSession session) =>
        AgentLogs.TryGetValue(session, out var log)
            ? "; its agent's log:\n" + string.Join("\n", log.Entries.TakeLast(40).Select(e => $"{e.Level} {e.Category}: {e.Message}"))
            : "";

    public static Task<AgentOutput> ExpectAsync(this ClientSession session, string alias, string prefix, List<AgentOutput>? skipped = null) =>
        session.ExpectAsync(o => o.Alias == alias && o.Text().StartsWith(prefix, StringComparison.Ordinal), skipped);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ClientSession, SessionLog> Logs = new();

    /// <summary>What a session was given so far, to catch duplicates.</summary>
    private sealed class SessionLog
    {
        private readonly HashSet<long> _eventIds = [];
        private readonly HashSet<string> _notifications = new(StringComparer.Ordinal);
        public Queue<string> Recent { get; } = new();

        public void Check(ClientSession session, AgentOutput o)
        {
            var text = o.Text();
            Recent.Enqueue($"{o.Alias}: {text.Split('\n')[0]}");
            if (Recent.Count > 20) Recent.Dequeue();
            if (o.EventId != 0 && !_eventIds.Add(o.EventId))
                Assert.Fail($"{session}: stored event {o.EventId} ('{text}' on '{o.Alias}') was given twice");
            // Notifications are unique by content (ids, sequence numbers, timestamps), except the ones that
            // may legitimately recur: ERR (reported per bad envelope), END, DOWN and UP.
            if (o.CorrId.Length == 0 && !Recurring(text) && !_notifications.Add(o.Alias + "\n" + text))
                Assert.Fail($"{session}: notification '{text}' on '{o.Alias}' was given twice");
        }

        private static bool Recurring(string text) =>
            text.StartsWith("ERR ", StringComparison.Ordinal) || text == "END" || text == "OK" || text.StartsWith("DOWN ", StringComparison.Ordinal) || text.StartsWith("UP ", StringComparison.Ordinal);
    }
}
