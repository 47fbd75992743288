import { SessionDetailPage } from "@/components/monitor/session-detail";

export default async function SessionDetail({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <SessionDetailPage id={decodeURIComponent(id)} />;
}
