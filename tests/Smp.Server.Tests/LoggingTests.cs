using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Server.Persistence;
using Xunit.Abstractions;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>What the operator reads (docs/server.md, "Logs and privacy"): plain words with paths, and no queue id, key or body above debug.</summary>
public sealed class LoggingTests(ITestOutputHelper output)
{
    /// <summary>Keeps every message at information and above, formatted, with its exception.</summary>
    private sealed class CapturingLoggerFactory : ILoggerFactory
    {
        public ConcurrentQueue<(LogLevel Level, string Text)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerFactory owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel)) owner.Lines.Enqueue((logLevel, formatter(state, exception) + (exception is null ? "" : " " + exception)));
            }
        }
    }

    [Fact]
    public async Task Damage_and_every_command_are_logged_without_ids_keys_or_bodies_and_name_the_files()
    {
        var loggers = new CapturingLoggerFactory();
        await using var s = await TestServer.StartAsync(dir: null, loggers: loggers);
        var secrets = new List<string> { PublicKeyText.Format(TestKeys.Recipient), PublicKeyText.Format(TestKeys.Sender) };
        byte[] lostRid;
        await using (var c = await s.ConnectAsync())
        {
            var (rid, sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            (lostRid, var lostSid) = await c.CreateQueueAsync(TestKeys.Recipient);
            secrets.AddRange([B64.EncodeString(rid), B64.EncodeString(sid), B64.EncodeString(lostRid), B64.EncodeString(lostSid)]);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(TestKeys.Recipient, rid, new SmpCommand.Key(SmpRsa.ExportPublicKey(TestKeys.Sender))));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(TestKeys.Sender, sid, Send("secret body one")));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, lostSid, Send("secret body two")));
            secrets.AddRange([B64.EncodeString("secret body one"u8.ToArray()), B64.EncodeString("secret body two"u8.ToArray()), "secret body"]);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(TestKeys.Recipient, rid, SmpCommand.OffCommand));
        }
        await s.Server.StopAsync();
        // The lost queue's CREATE damaged in the middle, so that its RID is still readable and its message orphaned.
        var storeLog = Path.Combine(s.DataDirectory, QueueStore.StoreLogName);
        var lines = File.ReadAllLines(storeLog);
        var i = Array.FindIndex(lines, l => l.Contains(B64.EncodeString(lostRid), StringComparison.Ordinal));
        lines[i] = lines[i][..^40] + "%%%" + lines[i][^37..];
        await File.WriteAllTextAsync(storeLog, string.Join('\n', lines) + "\n");
        await s.RestartAsync();
        Assert.Equal(1, s.Server.Recovery.QueuesNotRestored);
        await Assert.ThrowsAsync<SmpServerStartException>(() => SmpServer.StartAsync(s.Options, loggers));

        foreach (var (level, text) in loggers.Lines) output.WriteLine($"{level}: {text}");
        foreach (var (_, text) in loggers.Lines)
            foreach (var secret in secrets)
                Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        var damage = loggers.Lines.Where(l => l.Level >= LogLevel.Warning).Select(l => l.Text).ToList();
        Assert.Contains(damage, t => t.Contains(storeLog, StringComparison.Ordinal) && t.Contains("could not be read", StringComparison.Ordinal) && t.Contains("line", StringComparison.Ordinal));
        Assert.Contains(damage, t => t.Contains("1 queue(s) and 1 message(s)", StringComparison.Ordinal) && t.Contains(".damaged-", StringComparison.Ordinal));
    }
}
