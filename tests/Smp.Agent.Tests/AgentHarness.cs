using System.Net;
using System.Text;
using Smp.Protocol.Encodings;
using Smp.Server;

namespace Smp.Agent.Tests;

/// <summary>In-process servers and agents on loopback, in a temporary directory removed at the end.</summary>
internal sealed class AgentHarness : IAsyncDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-agent-tests-");
    private readonly List<SmpServer> _servers = [];
    private readonly List<SmpAgent> _agents = [];

    public string Dir => _dir.FullName;

    public async Task<SmpServerAddress> StartServerAsync(string name = "server", int port = 0)
    {
        var server = await SmpServer.StartAsync(new SmpServerOptions
        {
            DataDirectory = Path.Combine(Dir, name),
            Port = port,
            BindAddress = IPAddress.Loopback,
            StatsInterval = TimeSpan.Zero,
        });
        _servers.Add(server);
        return new SmpServerAddress("127.0.0.1", server.Port, server.Address.KeyHash);
    }

    public SmpServer Server(int i = 0) => _servers[i];

    public async Task StopServerAsync(int i = 0) => await _servers[i].DisposeAsync();

    public async Task<SmpServerAddress> RestartServerAsync(int i, string name = "server")
    {
        var port = _servers[i].Port;
        await _servers[i].DisposeAsync();
        var server = await SmpServer.StartAsync(new SmpServerOptions
        {
            DataDirectory = Path.Combine(Dir, name),
            Port = port,
            BindAddress = IPAddress.Loopback,
            StatsInterval = TimeSpan.Zero,
        });
        _servers[i] = server;
        return new SmpServerAddress("127.0.0.1", server.Port, server.Address.KeyHash);
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
        LoggerFactory = new ConsoleTestLoggerFactory(name),
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
        foreach (var s in _servers) await s.DisposeAsync();
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

    /// <summary>Waits for the next output of the session that matches; earlier non-matching ones are skipped and returned.</summary>
    public static async Task<AgentOutput> ExpectAsync(this ClientSession session, Func<AgentOutput, bool> match, List<AgentOutput>? skipped = null)
    {
        using var cts = new CancellationTokenSource(TestSupport.Patience);
        while (true)
        {
            var o = await session.Output.ReadAsync(cts.Token);
            if (match(o)) return o;
            skipped?.Add(o);
        }
    }

    public static Task<AgentOutput> ExpectAsync(this ClientSession session, string alias, string prefix, List<AgentOutput>? skipped = null) =>
        session.ExpectAsync(o => o.Alias == alias && o.Text().StartsWith(prefix, StringComparison.Ordinal), skipped);
}
