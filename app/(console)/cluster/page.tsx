import { ClusterPage } from "@/components/cluster";

export default function Cluster() {
  return <ClusterPage />;
}
