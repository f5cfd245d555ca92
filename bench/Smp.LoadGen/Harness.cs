using System.Net;
using System.Text;
using Smp.Agent;
using Smp.Agent.Smp;
using Smp.Protocol.Encodings;
using Smp.Server;

namespace Smp.LoadGen;

/// <summary>In-process servers and agents on loopback in a temporary directory that is removed at the end.</summary>
internal sealed class Harness : IAsyncDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-loadgen-");
    private readonly List<SmpServer> _servers = [];
    private readonly List<SmpAgent> _agents = [];

    public IReadOnlyList<SmpServer> Servers => _servers;

    public async Task<SmpServerAddress> StartServerAsync(Action<SmpServerOptions>? configure = null)
    {
        var options = new SmpServerOptions
        {
            DataDirectory = Path.Combine(_dir.FullName, "server" + _servers.Count),
            Port = 0,
            BindAddress = IPAddress.Loopback,
            StatsInterval = TimeSpan.Zero,
            // Hundreds of RSA handshakes at once queue up on two cores.
            HandshakeTimeout = TimeSpan.FromSeconds(60),
        };
        configure?.Invoke(options);
        var server = await SmpServer.StartAsync(options);
        _servers.Add(server);
        return new SmpServerAddress("127.0.0.1", server.Port, server.Address.KeyHash);
    }

    /// <summary>AgentOptions.GroupViews for the agents started from now on (the group scenario's --views).</summary>
    public bool GroupViews { get; set; } = true;
    /// <summary>AgentOptions.GroupHistorySize of the agents started from now on.</summary>
    public int GroupHistorySize { get; set; } = new AgentOptions().GroupHistorySize;

    public Task<SmpAgent> StartAgentAsync(string name, int keyBits, int keyPoolSize, params SmpServerAddress[] servers) =>
        StartAgentAsync(name, keyBits, keyPoolSize, new AgentOptions().SendWindow, servers);

    public async Task<SmpAgent> StartAgentAsync(string name, int keyBits, int keyPoolSize, int sendWindow, params SmpServerAddress[] servers)
    {
        var agent = await SmpAgent.StartAsync(new AgentOptions
        {
            Servers = servers,
            DatabasePath = Path.Combine(_dir.FullName, name + ".db"),
            KeyBits = keyBits,
            KeyPoolSize = keyPoolSize,
            SendWindow = sendWindow,
            GroupViews = GroupViews,
            GroupHistorySize = GroupHistorySize,
            // An external relay given by address may be any of ours; loopback is the only network here.
            AllowUnverifiedServers = servers.Any(s => s.KeyHash is null),
            RetryInitialDelay = TimeSpan.FromMilliseconds(20),
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
            SmpClient = new SmpClientOptions
            {
                RequestTimeout = TimeSpan.FromSeconds(30),
                ConnectTimeout = TimeSpan.FromSeconds(30),
                ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
                ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
            },
        });
        _agents.Add(agent);
        return agent;
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

/// <summary>A client of one agent that keeps every output it skipped while waiting, so no event is lost.</summary>
internal sealed class Person(string name, SmpAgent agent)
{
    public string Name { get; } = name;
    public SmpAgent Agent { get; } = agent;
    public ClientSession Session { get; } = agent.Connect(name);
    private readonly List<AgentOutput> _seen = [];

    public static string Text(AgentOutput o) => Encoding.UTF8.GetString(o.Payload);

    /// <summary>The next output of <paramref name="alias"/> starting with <paramref name="prefix"/>; delivered outputs are released from the agent's store.</summary>
    public async Task<AgentOutput> WaitAsync(string alias, string prefix, CancellationToken ct, TimeSpan? patience = null)
    {
        bool Match(AgentOutput o) => o.Alias == alias && Text(o).StartsWith(prefix, StringComparison.Ordinal);
        var earlier = _seen.FindIndex(Match);
        if (earlier >= 0)
        {
            var o = _seen[earlier];
            _seen.RemoveAt(earlier);
            return o;
        }
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(patience ?? TimeSpan.FromSeconds(120));
        while (true)
        {
            var o = await Session.Output.ReadAsync(limit.Token);
            await Agent.DeliveredAsync(o);
            if (Match(o)) return o;
            if (Text(o).StartsWith("ERR", StringComparison.Ordinal)) Console.Error.WriteLine($"{Name}: {o.Alias} {Text(o)}");
            _seen.Add(o);
        }
    }

    /// <summary>
    /// A duplex connection: this person invites under <paramref name="alias"/>, <paramref name="other"/> joins
    /// under <paramref name="otherAlias"/>; done when both have seen CON.
    /// </summary>
    public async Task ConnectAsync(Person other, string alias, string otherAlias, CancellationToken ct)
    {
        var (_, invitation) = await Agent.NewAsync(Session, alias, ct);
        await other.Agent.JoinAsync(other.Session, "join", otherAlias, invitation, noReply: false, ct);
        await other.WaitAsync(otherAlias, "CON", ct);
        await WaitAsync(alias, "CON", ct);
    }
}
