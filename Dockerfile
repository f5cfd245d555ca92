# syntax=docker/dockerfile:1
# The smp executable in a container (docs/deploy.md).
#
#   docker build -t smp .
#   docker run -d --name smp-server -p 5223:5223 -v smp-server-data:/data -e SMP_SERVER_HOST=relay.example.com smp
#   docker logs smp-server      # SMP server listening on relay.example.com:5223#<keyhash>
#
# The same image runs an agent: docker run ... smp agent --server relay.example.com:5223#<keyhash>
# Options come from SMP_SERVER_* / SMP_AGENT_* variables or a --config file (docs/configuration.md).

# ---- build: the SDK publishes src/Smp.Cli ----
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Project files first: the restore layer is reused until a project or package version changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Smp.Protocol/Smp.Protocol.csproj src/Smp.Protocol/
COPY src/Smp.Server/Smp.Server.csproj src/Smp.Server/
COPY src/Smp.Agent/Smp.Agent.csproj src/Smp.Agent/
COPY src/Smp.Cli/Smp.Cli.csproj src/Smp.Cli/
RUN dotnet restore src/Smp.Cli/Smp.Cli.csproj
COPY src/ src/
RUN dotnet publish src/Smp.Cli -c Release --no-restore -o /app

# ---- run: the runtime only, as the image's unprivileged user ----
# The runtime with ASP.NET Core: the metrics endpoint (smp server/agent --metrics) is served by Kestrel.
FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
# The server's key, store log and journal, or an agent's database: in a volume, owned by the app user.
RUN mkdir /data && chown "$APP_UID" /data && chmod 0700 /data
VOLUME /data
ENV SMP_SERVER_DATA=/data \
    SMP_AGENT_DB=/data/agent.db \
    SMP_AGENT_BIND=0.0.0.0 \
    DOTNET_EnableDiagnostics=0
# SMP_AGENT_BIND: inside the container only a published port reaches it; publish it on 127.0.0.1
# (-p 127.0.0.1:5224:5224), since whoever reaches an agent's port acts as its user.
USER $APP_UID
EXPOSE 5223 5224
# SIGTERM (docker stop) stops gracefully; allow it the 30 s it may take: docker stop -t 40.
STOPSIGNAL SIGTERM
ENTRYPOINT ["dotnet", "/app/smp.dll"]
CMD ["server"]
