using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Tests;

/// <summary>What an agent refuses to start with, and what it warns about when told to go ahead.</summary>
public sealed class AgentOptionsTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task A_server_without_key_hash_is_refused_so_a_relay_cannot_be_impersonated_unnoticed()
    {
        var server = await _h.StartServerAsync();
        var unverified = server with { KeyHash = null };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => SmpAgent.StartAsync(_h.Options("a", server, unverified)));
        Assert.Contains(unverified.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains("#keyhash", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_h.Options("a").DatabasePath), "refused before the store was made");
    }

    [Fact]
    public async Task A_server_without_key_hash_is_accepted_when_allowed_with_a_warning_naming_it()
    {
        var server = await _h.StartServerAsync();
        var unverified = server with { KeyHash = null };
        var logs = new RecordingLoggerFactory();
        var agent = await _h.StartAgentAsync(_h.Options("a", unverified) with { AllowUnverifiedServers = true, LoggerFactory = logs });
        Assert.Contains(logs.Lines, l => l.Level == LogLevel.Warning && l.Text.Contains(unverified.ToString(), StringComparison.Ordinal)
                                         && l.Text.Contains("will not be checked", StringComparison.Ordinal));
        // And it works: a queue is made on that server.
        var session = agent.Connect("alice");
        var (_, invitation) = await agent.NewAsync(session, "bob");
        Assert.Equal(server.EffectivePort, invitation.Server.EffectivePort);
    }

    [Fact]
    public async Task Servers_with_key_hashes_start_without_a_warning()
    {
        var server = await _h.StartServerAsync();
        var logs = new RecordingLoggerFactory();
        await _h.StartAgentAsync(_h.Options("a", server) with { LoggerFactory = logs });
        Assert.DoesNotContain(logs.Lines, l => l.Text.Contains("will not be checked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_server_at_all_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => SmpAgent.StartAsync(_h.Options("a")));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    public async Task A_group_history_size_out_of_range_is_refused(int size)
    {
        var server = await _h.StartServerAsync();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => SmpAgent.StartAsync(_h.Options("a", server) with { GroupHistorySize = size }));
        Assert.Contains("group history size must be 0 to 1000", e.Message, StringComparison.Ordinal);
    }

    private sealed class RecordingLoggerFactory : ILoggerFactory
    {
        public ConcurrentQueue<(LogLevel Level, string Text)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Lines);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<(LogLevel, string)> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue((logLevel, formatter(state, exception)));
        }
    }
}
