using System.IO.Pipelines;
using System.Text;
using Smp.Agent.Tests;
using Smp.Cli.Client;

namespace Smp.Cli.Tests;

/// <summary>
/// Drives a <see cref="TerminalClient"/> as a person at a terminal would: lines typed into its input, its
/// output read back line by line. Expectations wait (with a timeout) for a line not matched before, in
/// any order, so that events racing each other do not make tests flaky.
/// </summary>
internal sealed class ScriptedTerminal : IAsyncDisposable
{
    private readonly Pipe _input = new();
    private readonly StreamWriter _keyboard;
    private readonly Screen _screen = new();
    private readonly CancellationTokenSource _stop = new();

    public ScriptedTerminal(int port, string name)
    {
        Name = name;
        _keyboard = new StreamWriter(_input.Writer.AsStream(), new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        var options = new TerminalClientOptions
        {
            Port = port,
            Color = false,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(300),
        };
        Run = TerminalClient.RunAsync(new StreamReader(_input.Reader.AsStream(), Encoding.UTF8), _screen, options, _stop.Token);
    }

    public string Name { get; }

    /// <summary>Completes when the client ends (/quit, end of input).</summary>
    public Task Run { get; }

    public IReadOnlyList<string> Transcript => _screen.Snapshot();

    public Task TypeAsync(string line) => _keyboard.WriteLineAsync(line);

    /// <summary>Closes the input: the end of input, as Ctrl-D at a terminal.</summary>
    public async Task EndInputAsync()
    {
        await _keyboard.FlushAsync();
        await _input.Writer.CompleteAsync();
    }

    public Task<string> ExpectAsync(string text) => ExpectAsync(l => l.Contains(text, StringComparison.Ordinal), text);

    /// <summary>The first line not matched before that matches, waiting for it if needed.</summary>
    public async Task<string> ExpectAsync(Func<string, bool> match, string what)
    {
        using var timeout = new CancellationTokenSource(TestSupport.Patience);
        while (true)
        {
            var changed = _screen.Changed;
            if (_screen.Take(match) is { } line) return line;
            try
            {
                await changed.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Name} never showed '{what}'. Screen:\n{string.Join('\n', Transcript)}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Run.WaitAsync(TestSupport.Patience);
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
        await _keyboard.DisposeAsync();
    }

    /// <summary>A TextWriter that keeps complete lines and signals each new one.</summary>
    private sealed class Screen : TextWriter
    {
        private readonly List<(string Text, bool Taken)> _lines = [];
        private readonly StringBuilder _partial = new();
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override Encoding Encoding => Encoding.UTF8;

        public Task Changed
        {
            get
            {
                lock (_lines) return _changed.Task;
            }
        }

        public override void Write(char value)
        {
            lock (_lines)
            {
                if (value == '\r') return;
                if (value != '\n')
                {
                    _partial.Append(value);
                    return;
                }
                _lines.Add((_partial.ToString(), false));
                _partial.Clear();
                _changed.TrySetResult();
                _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        public override void Write(string? value)
        {
            foreach (var c in value ?? "") Write(c);
        }

        public override void WriteLine(string? value)
        {
            Write(value);
            Write('\n');
        }

        public string? Take(Func<string, bool> match)
        {
            lock (_lines)
            {
                for (var i = 0; i < _lines.Count; i++)
                {
                    if (_lines[i].Taken || !match(_lines[i].Text)) continue;
                    _lines[i] = (_lines[i].Text, true);
                    return _lines[i].Text;
                }
                return null;
            }
        }

        public List<string> Snapshot()
        {
            lock (_lines) return _lines.Select(l => l.Text).ToList();
        }
    }
}
