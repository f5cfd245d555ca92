using Microsoft.Extensions.Logging;

namespace Smp.Agent.Tests;

/// <summary>Warnings and errors to the console, for diagnosing a failed test from its output.</summary>
internal sealed class ConsoleTestLoggerFactory(string name) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger($"{name}/{categoryName}");

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Console.WriteLine($"LOG {logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
