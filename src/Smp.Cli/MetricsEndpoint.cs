using System.CommandLine;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Smp.Cli;

/// <summary>
/// Serves the instruments of the named <see cref="System.Diagnostics.Metrics.Meter"/>s in Prometheus
/// text format at <c>/metrics</c>, and a health check at <c>/health</c>, on one HTTP address
/// (docs/server.md, "Metrics and health"). OpenTelemetry collects and formats; Kestrel serves, because
/// it can bind port 0 and say which port it got. Any host passes its own meters: <c>smp server</c>
/// passes "Smp.Server".
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MetricsEndpoint(WebApplication app, Uri root)
    {
        _app = app;
        MetricsUri = new Uri(root, "metrics");
        HealthUri = new Uri(root, "health");
        Port = root.Port;
    }

    public Uri MetricsUri { get; }
    public Uri HealthUri { get; }

    /// <summary>The bound port (the one picked when 0 was asked for).</summary>
    public int Port { get; }

    /// <summary>
    /// Starts serving on <paramref name="endpoint"/>. <paramref name="healthy"/> decides the health
    /// check: 200 "ok" when true, 503 otherwise. Throws <see cref="IOException"/> when the address cannot
    /// be bound.
    /// </summary>
    public static async Task<MetricsEndpoint> StartAsync(IPEndPoint endpoint, IReadOnlyCollection<string> meterNames, string serviceName,
        Func<bool> healthy, ILoggerFactory loggerFactory, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(meterNames);
        ArgumentNullException.ThrowIfNull(healthy);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        // The empty builder reads no appsettings.json or ASPNETCORE_* variables: only what is set here applies.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = serviceName });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.Listen(endpoint);
            k.AddServerHeader = false;
        });
        builder.Services.AddRoutingCore();
        // The host neither owns Ctrl-C/SIGTERM (the command does) nor logs below warnings of its own.
        builder.Services.AddSingleton<IHostLifetime, CommandOwnedLifetime>();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(loggerFactory));
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithMetrics(m =>
            {
                foreach (var name in meterNames) m.AddMeter(name);
                // No cached answers: a scrape shows the counters as they are now.
                m.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
            });
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/health", (HttpContext http) =>
        {
            var ok = healthy();
            http.Response.StatusCode = ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            return ok ? "ok\n" : "not accepting connections\n";
        });
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not IOException and not OperationCanceledException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            // Kestrel reports a taken address as AddressInUseException, an InvalidOperationException.
            throw new IOException(e.Message, e);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new MetricsEndpoint(app, new Uri(bound.EndsWith('/') ? bound : bound + "/"));
    }

    /// <summary><c>--metrics ADDR:PORT</c>, shared by the commands that can serve metrics.</summary>
    public static Option<IPEndPoint?> CreateOption(string description) => new("--metrics")
    {
        Description = description,
        HelpName = "addr:port",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (TryParseAddress(text, out var endpoint)) return endpoint;
            r.AddError($"'{text}' is not an address and port for metrics, such as 127.0.0.1:9464 or [::1]:9464 (port 0 picks a free one)");
            return null;
        },
    };

    /// <summary>An IP address and an explicit port 0–65535: <c>127.0.0.1:9464</c>, <c>[::1]:9464</c>.</summary>
    public static bool TryParseAddress(string text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1) return false;
        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':', StringComparison.Ordinal)) return false; // an IPv6 address needs brackets before a port
        if (!IPAddress.TryParse(host, out var address)) return false;
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535) return false;
        endpoint = new IPEndPoint(address, port);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class CommandOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }
}
