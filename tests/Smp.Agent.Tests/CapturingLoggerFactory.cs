using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Smp.Agent.Tests;

/// <summary>One formatted log entry, as an operator would read it.</summary>
internal sealed record LogEntry(LogLevel Level, string Category, string Message);

/// <summary>
/// Keeps every entry from debug up (for asserting what an operator sees) and echoes warnings and errors to
/// the console. <see cref="WaitForAsync"/> waits for an entry
/// without polling: each new entry wakes the waiters.
/// </summary>
internal sealed class CapturingLoggerFactory(string name) : ILoggerFactory
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <summary>Waits until <paramref name="count"/> entries match (at most <see cref="TestSupport.Patience"/>).</summary>
    public async Task<List<LogEntry>> WaitForAsync(Func<LogEntry, bool> match, int count = 1)
    {
        using var cts = new CancellationTokenSource(TestSupport.Patience);
        while (true)
        {
            Task added;
            lock (_lock) added = _added.Task;
            var found = _entries.Where(match).ToList();
            if (found.Count >= count) return found;
            await added.WaitAsync(cts.Token);
        }
    }

    private void Add(LogEntry entry)
    {
        _entries.Enqueue(entry);
        if (entry.Level >= LogLevel.Warning) Console.WriteLine($"LOG {entry.Level} {name}/{entry.Category}: {entry.Message}");
        TaskCompletionSource added;
        lock (_lock)
        {
            added = _added;
            _added = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        added.TrySetResult();
    }

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Add(new LogEntry(logLevel, category, exception is null ? formatter(state, exception) : $"{formatter(state, exception)} {exception}"));
    }
}
