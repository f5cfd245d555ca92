using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using Smp.Agent.Client;
using Smp.Protocol.Agent;

namespace Smp.Cli.Client;

// Smp.Cli.AgentCommand (the `smp agent` subcommand) would hide the protocol type otherwise.

/// <summary>
/// The interactive client (docs/client.md): reads typed lines from <c>input</c>, sends them to the agent,
/// and writes readable events to <c>output</c>. Two loops: the input loop, and the connection loop that
/// (re)connects with back-off, subscribes to everything (SUBALL) on each connection and prints what arrives.
/// Nothing typed can end it but /quit or the end of the input.
/// </summary>
internal sealed class TerminalClient
{
    private readonly TextWriter _output;
    private readonly TerminalClientOptions _options;
    private readonly Lock _outputLock = new();
    private readonly ConcurrentDictionary<string, PendingCommand> _pending = new(StringComparer.Ordinal);
    private readonly RelayOutages _outages = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private AgentTcpClient? _agent;
    private long _corrId;
    private volatile bool _wire;

    private readonly MemberNames _names = new();

    private TerminalClient(TextWriter output, TerminalClientOptions options)
    {
        _output = output;
        _options = options;
        _names.OwnName = options.OwnName;
    }

    /// <summary>Runs until /quit, the end of <paramref name="input"/> or <paramref name="ct"/>.</summary>
    public static async Task RunAsync(TextReader input, TextWriter output, TerminalClientOptions options, CancellationToken ct)
    {
        var client = new TerminalClient(output, options);
        client.LoadNames();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var connection = Task.Run(() => client.ConnectionLoopAsync(stop.Token), CancellationToken.None);
        try
        {
            await client.InputLoopAsync(input, stop.Token).ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await connection.ConfigureAwait(false);
        }
    }

    private async Task InputLoopAsync(TextReader input, CancellationToken ct)
    {
        // Lines piped in all at once must not race the first connection and be refused.
        try
        {
            await _firstAttempt.Task.WaitAsync(_options.ConnectTimeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
        }
        while (!ct.IsCancellationRequested)
        {
            string? line;
            try
            {
                // Console.In reads synchronously whatever method is called: keep it off this loop so that
                // cancellation (Ctrl-C) still ends the client.
                line = await Task.Run(() => input.ReadLineAsync(ct).AsTask(), ct).WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (IOException)
            {
                line = null; // the terminal went away: the same as the end of input
            }
            var action = ClientCommandParser.Parse(line);
            switch (action)
            {
                case ClientAction.Quit when line is null:
                    await DrainAsync(ct).ConfigureAwait(false);
                    return;
                case ClientAction.Quit:
                    return;
                case ClientAction.Nothing:
                    break;
                case ClientAction.Help:
                    Print(HelpText.Lines.Select(l => new OutputLine(LineStyle.Plain, l)));
                    break;
                case ClientAction.Wire w:
                    _wire = w.On;
                    Print(LineStyle.Info, w.On ? "* showing the wire: > sent, < received" : "* wire view off");
                    break;
                case ClientAction.Invalid i:
                    Print(LineStyle.Error, $"! {i.Message}");
                    break;
                case ClientAction.Request r:
                    // GNEW and GJOIN carry the user's name (groups.md §6.12).
                    var command = _names.WithOwnInfo(r.Command);
                    await SendAsync(new PendingCommand(r.Alias, command, r.Label),
                        (a, id) => a.SendAsync(id, r.Alias, command, ct)).ConfigureAwait(false);
                    break;
                case ClientAction.SetName n:
                    if (n.Name is not null) _names.OwnName = n.Name.Length == 0 ? null : n.Name;
                    Print(LineStyle.Info, _names.OwnName is { } own
                        ? $"* groups you create or join from now on know you as \"{TextSanitizer.Clean(own)}\""
                        : "* no name is sent with groups you create or join; /name <name> sets one");
                    break;
                case ClientAction.Rename rn:
                    var kept = _names.Rename(rn.Member, rn.Name);
                    SaveNames();
                    Print(LineStyle.Info, kept is null
                        ? $"* {rn.Member} is shown by its own name again"
                        : $"* {rn.Member} is shown as \"{kept}\" here (only you see this name)");
                    break;
                case ClientAction.Raw raw:
                    await SendAsync(new PendingCommand(raw.Alias, null, "raw command"),
                        (a, id) => a.SendRawAsync(System.Text.Encoding.UTF8.GetBytes($"{id}\r\n{raw.Alias}\r\n{raw.CommandLine}\r\n"), ct)).ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <summary>
    /// At the end of piped input, waits a little for the answers to what was sent, so that a script's
    /// output is complete. JOIN (answered by a later CON) and SUBALL (no end mark) are not waited for.
    /// </summary>
    private async Task DrainAsync(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + _options.DrainTimeout;
        while (true)
        {
            var answered = Volatile.Read(ref _answered).Task;
            if (_agent is null || !_pending.Values.Any(p => p.Command is not (AgentCommand.Join or AgentCommand.SubAll))) return;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return;
            try
            {
                await answered.WaitAsync(left, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SendAsync(PendingCommand pending, Func<AgentTcpClient, string, Task> send)
    {
        var agent = _agent;
        if (agent is null)
        {
            Print(LineStyle.Error, $"! not connected to the agent (reconnecting): {pending.Label} was not sent");
            return;
        }
        var corrId = Interlocked.Increment(ref _corrId).ToString(CultureInfo.InvariantCulture);
        _pending[corrId] = pending;
        // Before the send: its answer cannot come first.
        Print(EventFormatter.Sending(pending));
        try
        {
            await send(agent, corrId).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException or ArgumentException)
        {
            _pending.TryRemove(corrId, out _);
            Print(LineStyle.Error, $"! {pending.Label} was not sent: {e.Message}");
        }
    }

    private async Task ConnectionLoopAsync(CancellationToken ct)
    {
        var delay = _options.ReconnectInitialDelay;
        var connectedBefore = false;
        var announcedFailure = false;
        while (!ct.IsCancellationRequested)
        {
            AgentTcpClient agent;
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
                attempt.CancelAfter(_options.ConnectTimeout);
                agent = await AgentTcpClient.ConnectAsync(_options.Host, _options.Port, attempt.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
            {
                _firstAttempt.TrySetResult();
                if (ct.IsCancellationRequested) return;
                if (!announcedFailure)
                {
                    var reason = e is OperationCanceledException ? "timed out" : e.Message;
                    Print(LineStyle.Warning, $"! cannot reach the agent at {Endpoint} ({reason}); retrying every {_options.ReconnectMaxDelay.TotalSeconds:0.#} s at most");
                    announcedFailure = true;
                }
                try
                {
                    await Task.Delay(delay, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
                continue;
            }
            delay = _options.ReconnectInitialDelay;
            announcedFailure = false;
            await RunConnectionAsync(agent, connectedBefore, ct).ConfigureAwait(false);
            connectedBefore = true;
            if (ct.IsCancellationRequested) return;
            Print(LineStyle.Warning, "! lost the connection to the agent; reconnecting");
            ForgetPending();
        }
    }

    /// <summary>One connection: SUBALL so that everything the agent holds for us comes here, then print what arrives.</summary>
    private async Task RunConnectionAsync(AgentTcpClient agent, bool reconnect, CancellationToken ct)
    {
        agent.Wire += OnWire;
        try
        {
            Print(LineStyle.Success, reconnect
                ? $"* reconnected to the agent at {Endpoint}"
                : $"* connected to the agent at {Endpoint}; /help lists the commands");
            _agent = agent;
            _outages.Reconnected();
            await SendAsync(new PendingCommand("", new AgentCommand.SubAll(), "/suball"),
                (a, id) => a.SendAsync(id, "", new AgentCommand.SubAll(), ct)).ConfigureAwait(false);
            _firstAttempt.TrySetResult();
            await foreach (var t in agent.Incoming.ReadAllAsync(ct).ConfigureAwait(false)) Show(t);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _agent = null;
            _firstAttempt.TrySetResult();
            SignalAnswered();
            agent.Wire -= OnWire;
            await agent.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Show(AgentTransmission t)
    {
        // One line per outage of a relay, not one per connection on it.
        if (t.CorrId.Length == 0 && t.Command is AgentCommand.Down or AgentCommand.Up && !_outages.IsNews(t.Command)) return;
        PendingCommand? pending = null;
        if (t.CorrId.Length > 0 && _pending.TryGetValue(t.CorrId, out pending) && t.Command is { } answer && pending.IsFinishedBy(answer))
            _pending.TryRemove(t.CorrId, out _);
        if (t.Command is AgentCommand.Con && t.CorrId.Length == 0)
            foreach (var (id, p) in _pending)
                if (p.Command is AgentCommand.Join && p.Alias == t.Alias) _pending.TryRemove(id, out _);
        try
        {
            _names.Observe(t);
            Print(EventFormatter.Format(t, pending, _names));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            // A transmission we cannot show must not stop the connection loop (and with it reconnection).
            Print(LineStyle.Warning, $"! could not show a transmission from the agent ({e.Message})");
        }
        if (pending is not null) SignalAnswered();
    }

    private void LoadNames()
    {
        if (_options.NamesFile is not { } path || !File.Exists(path)) return;
        try
        {
            _names.Load(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Print(LineStyle.Warning, $"! could not read the names file {path} ({e.Message}); starting without its names");
        }
    }

    /// <summary>Writes the local names to a temporary file first, so a crash never leaves half a file.</summary>
    private void SaveNames()
    {
        if (_options.NamesFile is not { } path) return;
        try
        {
            var temp = path + ".tmp";
            File.WriteAllText(temp, _names.SaveText());
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Print(LineStyle.Warning, $"! could not save the names file {path} ({e.Message}); the name lasts until the client ends");
        }
    }

    /// <summary>Commands sent on a connection that dropped get no answer: say that their outcome is unknown.</summary>
    private void ForgetPending()
    {
        foreach (var (id, p) in _pending)
        {
            if (!_pending.TryRemove(id, out _) || p.Command is AgentCommand.SubAll) continue;
            Print(LineStyle.Warning, $"! no answer to {p.Label} before the connection dropped; the agent may still carry it out");
        }
    }

    private void SignalAnswered() =>
        Interlocked.Exchange(ref _answered, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private void OnWire(bool sent, string text)
    {
        if (!_wire) return;
        var shown = TextSanitizer.Clean(text.TrimEnd('\r', '\n').Replace("\r\n", " | ", StringComparison.Ordinal))
            .Replace("\\x0A", "\\n", StringComparison.Ordinal);
        Print(LineStyle.Dim, (sent ? "> " : "< ") + shown);
    }

    private string Endpoint => $"{_options.Host}:{_options.Port.ToString(CultureInfo.InvariantCulture)}";

    private void Print(LineStyle style, string text) => Print([new OutputLine(style, text)]);

    private void Print(IEnumerable<OutputLine> lines)
    {
        lock (_outputLock)
        {
            try
            {
                foreach (var line in lines) _output.WriteLine(line.Render(_options.Color));
                _output.Flush();
            }
            catch (IOException)
            {
                // The terminal is gone (a closed pipe): nothing left to tell anyone.
            }
        }
    }
}
