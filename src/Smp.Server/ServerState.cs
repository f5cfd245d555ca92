using Microsoft.Extensions.Logging;
using Smp.Server.Persistence;

namespace Smp.Server;

/// <summary>What every session shares: settings, queues, the journal and the counters.</summary>
internal sealed class ServerState(SmpServerOptions options, QueueStore store, MessageJournal journal, ServerCounters counters, ILoggerFactory loggerFactory)
{
    public SmpServerOptions Options { get; } = options;
    public QueueStore Store { get; } = store;
    public MessageJournal Journal { get; } = journal;
    public ServerCounters Counters { get; } = counters;
    public ILogger SessionLogger { get; } = loggerFactory.CreateLogger("Smp.Server.Session");

    /// <summary>Messages stamped before this have expired.</summary>
    public DateTimeOffset ExpiryCutoff => Now() - Options.MessageTtl;

    /// <summary>Timestamps carry milliseconds, truncated (server-ref.md §2).</summary>
    public DateTimeOffset Now()
    {
        var now = Options.TimeProvider.GetUtcNow();
        return new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
    }
}
