using System.Net;
using Smp.Agent;
using Smp.Agent.Client;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;
using Smp.Server;

namespace Smp.Cli.Demo;

/// <summary>
/// An embedded relay and agents on loopback in a temporary directory, removed at the end; every
/// person talks to their agent through the real client protocol on TCP.
/// </summary>
internal sealed class DemoWorld : IAsyncDisposable
{
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-demo-");
    private readonly List<Person> _people = [];
    private SmpServer? _server;

    public DemoWorld(Narrator narrator, int keyBits)
    {
        Narrator = narrator;
        KeyBits = keyBits;
    }

    public Narrator Narrator { get; }

    public int KeyBits { get; }

    public SmpServerAddress Server { get; private set; } = null!;

    public async Task StartServerAsync()
    {
        _server = await SmpServer.StartAsync(new SmpServerOptions
        {
            DataDirectory = Path.Combine(_dir.FullName, "server"),
            Port = 0,
            BindAddress = IPAddress.Loopback,
            Host = "127.0.0.1",
            StatsInterval = TimeSpan.Zero,
        }).ConfigureAwait(false);
        Server = _server.Address;
    }

    public async Task<Person> AddPersonAsync(string name)
    {
        var person = new Person(this, name, Path.Combine(_dir.FullName, name + ".db"));
        await person.StartAsync().ConfigureAwait(false);
        _people.Add(person);
        return person;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _people) await p.DisposeAsync().ConfigureAwait(false);
        if (_server is not null) await _server.DisposeAsync().ConfigureAwait(false);
        try
        {
            _dir.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>One person (or device): an agent with its client port, and a client connected to it.</summary>
internal sealed class Person(DemoWorld world, string name, string dbPath) : IAsyncDisposable
{
    private SmpAgent? _agent;
    private AgentListener? _listener;
    private AgentTcpClient? _client;

    public string Name { get; } = name;

    public string Display => char.ToUpperInvariant(Name[0]) + Name[1..];

    public AgentTcpClient Client => _client ?? throw new InvalidOperationException($"{Name} is offline");

    public async Task StartAsync()
    {
        _agent = await SmpAgent.StartAsync(new AgentOptions
        {
            Servers = [world.Server],
            DatabasePath = dbPath,
            KeyBits = world.KeyBits,
            KeyPoolSize = 4,
        }).ConfigureAwait(false);
        _listener = AgentListener.Start(_agent, IPAddress.Loopback, 0);
        _client = await AgentTcpClient.ConnectAsync("127.0.0.1", _listener.Port).ConfigureAwait(false);
        _client.Wire += (sent, text) => world.Narrator.Wire(Display, sent, text);
    }

    /// <summary>Stops the agent and its client; the store stays for <see cref="StartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_client is not null) await _client.DisposeAsync().ConfigureAwait(false);
        if (_listener is not null) await _listener.DisposeAsync().ConfigureAwait(false);
        if (_agent is not null) await _agent.DisposeAsync().ConfigureAwait(false);
        _client = null;
        _listener = null;
        _agent = null;
    }

    /// <summary>Sends a command and returns its response; an ERR response fails the step.</summary>
    public async Task<AgentTransmission> CommandAsync(string alias, AgentCommand command)
    {
        var response = await Client.RequestAsync(alias, command, DemoWorld.StepTimeout).ConfigureAwait(false);
        if (response.Command is AgentCommand.Err err) throw new DemoStepException($"{Display}'s agent refused {command.Kind}: ERR {err.Error}");
        return response;
    }

    /// <summary>Sends a command whose answer comes later as a notification (JOIN, SEND).</summary>
    public Task SendAsync(string alias, AgentCommand command) => Client.SendAsync(Client.NextCorrId(), alias, command);

    /// <summary>Waits for a transmission on <paramref name="alias"/> whose command is <typeparamref name="T"/> and matches.</summary>
    public async Task<T> ExpectAsync<T>(string alias, Func<T, bool>? match = null) where T : AgentCommand
    {
        try
        {
            var t = await Client.ExpectAsync(x => x.Alias == alias && x.Command is T c && (match is null || match(c))
                                                  || x.Command is AgentCommand.Err && x.Alias == alias, DemoWorld.StepTimeout).ConfigureAwait(false);
            return t.Command as T ?? throw new DemoStepException($"{Display}'s agent reported ERR {((AgentCommand.Err)t.Command!).Error} on {alias}");
        }
        catch (TimeoutException)
        {
            throw new DemoStepException($"{Display} did not get {typeof(T).Name.ToUpperInvariant()} on '{alias}' within {DemoWorld.StepTimeout.TotalSeconds:0} s");
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}

/// <summary>A demo step that did not happen; the demo stops and exits non-zero.</summary>
internal sealed class DemoStepException(string message) : Exception(message);
